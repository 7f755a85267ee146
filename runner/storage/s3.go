package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3Options size the streaming multipart upload. S3 allows at most 10,000
// parts, so PartSize bounds the largest object: the default 8 MiB parts
// allow 78 GiB of compressed dump (a database dump of roughly 150-300 GiB);
// ENVSYNC_PART_SIZE_MIB=64 allows 625 GiB, for BufferBytes of 320 MiB.
// Two parts in flight keep up with pg_dump: each 8 MiB PUT takes a fraction
// of a second, and the compressed stream is a few tens of MB/s.
type S3Options struct {
	PartSize    int64 // bytes per part, at least 5 MiB; default 8 MiB
	Concurrency int   // parts in flight; default 2
}

const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 2
	minPartSize        = 5 << 20
	maxParts           = 10000
)

// MaxObjectSize is the largest object Put can store with these options.
func (o S3Options) MaxObjectSize() int64 { return o.withDefaults().PartSize * maxParts }

// BufferBytes bounds the memory Put's part buffers take: transfermanager
// keeps a pool of Concurrency+1 parts, plus the first part, which it reads
// into a buffer of its own (io.ReadAll, up to twice the part size while it
// grows) before the pool exists: 40 MiB with the defaults.
func (o S3Options) BufferBytes() int64 {
	o = o.withDefaults()
	return int64(o.Concurrency+1)*o.PartSize + 2*o.PartSize
}

func (o S3Options) withDefaults() S3Options {
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < minPartSize {
		o.PartSize = minPartSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	return o
}

// S3 is a bucket reached through the AWS SDK.
type S3 struct {
	bucket string
	client *s3.Client
	tm     *transfermanager.Client
	opts   S3Options
}

// LoadS3Config reads the SDK's standard configuration: AWS_REGION,
// AWS_ENDPOINT_URL(_S3), static keys, a web identity token, profiles.
func LoadS3Config(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		// Since service/s3 v1.73 the SDK adds CRC32 checksums to every
		// request and validates them on responses, which S3-compatible
		// servers often reject: only when an operation requires it.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		// S3-compatible servers ignore the region but the signer needs one.
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// NewS3 opens bucket with the SDK configuration cfg.
func NewS3(cfg aws.Config, bucket string, opts S3Options) *S3 {
	opts = opts.withDefaults()
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// A custom endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, a
		// profile's endpoint_url) is an S3-compatible server: those need
		// path-style addressing, bucket names are not DNS names there.
		if o.BaseEndpoint != nil && *o.BaseEndpoint != "" {
			o.UsePathStyle = true
		}
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		// Signing each part's SHA-256 costs a third of the upload's CPU on
		// the cores pg_dump and zstd need. The dump's integrity is checked
		// end to end by its own SHA-256 sidecar, and TLS covers transit.
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	})
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = opts.PartSize
		o.Concurrency = opts.Concurrency
		o.MultipartUploadThreshold = opts.PartSize
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		// Abort the multipart upload even when ctx was cancelled, so that
		// no parts are left behind.
		o.FailTimeout = time.Minute
	})
	return &S3{bucket: bucket, client: client, tm: tm, opts: opts}
}

func (s *S3) String() string { return "s3://" + s.bucket }

// Put streams r with a multipart upload of fixed-size parts (transfermanager
// reads an io.Reader of unknown length into a pool of Concurrency+1 part
// buffers). On any error the upload is aborted: no object appears.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	cr := &countingReader{r: r}
	_, err := s.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
		Body:   cr,
	})
	if err != nil && cr.n >= s.opts.MaxObjectSize() {
		return 0, fmt.Errorf("uploading %s/%s: the dump is larger than the %d GiB that 10,000 parts of %d MiB hold; raise the part size (ENVSYNC_PART_SIZE_MIB): %w",
			s, key, s.opts.MaxObjectSize()>>30, s.opts.PartSize>>20, err)
	}
	if err != nil {
		err = fmt.Errorf("uploading %s/%s: %w", s, key, err)
		if left := s.abortLeftovers(ctx, key); left != nil {
			err = errors.Join(err, left)
		}
		return 0, err
	}
	return cr.n, nil
}

// abortLeftovers aborts the multipart uploads of key that the failed upload
// left listed. transfermanager aborts its upload once its own requests have
// returned, but a part the server was still receiving can land after that
// abort and list the upload again (S3 documents that an upload may need
// aborting more than once): look again after growing pauses, until a look
// after a pause of a second finds none.
func (s *S3) abortLeftovers(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var slept time.Duration
	for pause := 250 * time.Millisecond; ; pause *= 2 {
		ids, err := s.uploadIDs(ctx, key)
		if err != nil {
			return fmt.Errorf("looking for the parts of the failed upload %s/%s: %w", s, key, err)
		}
		for _, id := range ids {
			if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(id),
			}); err != nil && !isNoSuchUpload(err) {
				return fmt.Errorf("aborting the failed upload %s/%s: %w", s, key, err)
			}
		}
		if len(ids) == 0 && slept >= time.Second {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the failed upload %s/%s may have left parts: %w", s, key, ctx.Err())
		case <-time.After(pause):
			slept = pause
		}
	}
}

// uploadIDs lists the multipart uploads in progress of exactly key.
func (s *S3) uploadIDs(ctx context.Context, key string) ([]string, error) {
	out, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(key)})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key {
			ids = append(ids, aws.ToString(u.UploadId))
		}
	}
	return ids, nil
}

func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s/%s: %w", s, key, ErrNotFound)
		}
		return nil, fmt.Errorf("reading %s/%s: %w", s, key, err)
	}
	return out.Body, nil
}

func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	return keys(s.ListObjects(ctx, prefix))
}

func (s *S3) ListObjects(ctx context.Context, prefix string) ([]Object, error) {
	var objs []Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s/%s: %w", s, prefix, err)
		}
		for _, o := range page.Contents {
			objs = append(objs, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)})
		}
	}
	return objs, nil // ListObjectsV2 returns keys in UTF-8 binary order
}

func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting %s/%s: %w", s, key, err)
	}
	return nil
}

// PendingUploads lists multipart uploads not completed nor aborted under
// prefix: a failed Put must leave none.
func (s *S3) PendingUploads(ctx context.Context, prefix string) ([]string, error) {
	out, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys, nil
}

func isNoSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	return errors.As(err, &nsu)
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var re *smithyhttp.ResponseError
	return errors.As(err, &nsk) || errors.As(err, &nf) ||
		(errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
