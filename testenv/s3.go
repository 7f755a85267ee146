package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Server is a real S3-compatible server (versitygw over a posix folder).
type S3Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	Region    string
	AccessKey string
	SecretKey string
	Dir       string // the folder holding the buckets
	Proc      *Process
}

const versitygwHint = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// StartS3 starts versitygw on a loopback port and stops it when the test ends.
func StartS3(t T) *S3Server {
	t.Helper()
	bin := LookPath(t, "versitygw", versitygwHint)
	dir := filepath.Join(t.TempDir(), "s3")
	mustf(t, os.MkdirAll(dir, 0o755), "creating %s", dir)
	port := FreePort(t)
	s := &S3Server{
		Endpoint:  "http://127.0.0.1:" + strconv.Itoa(port),
		Region:    "us-east-1",
		AccessKey: "envsync-test",
		SecretKey: "envsync-test-secret-" + strconv.Itoa(port),
		Dir:       dir,
	}
	cmd := exec.Command(bin, "--port", "127.0.0.1:"+strconv.Itoa(port), "--quiet", "posix", dir)
	// Keys through the environment, not argv.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	s.Proc = Start(t, "versitygw", cmd)
	WaitTCP(t, s.Proc, "127.0.0.1:"+strconv.Itoa(port), 20*time.Second)
	return s
}

// Env is the AWS SDK standard environment reaching this server, for child
// processes (the runner, the AWS CLI).
func (s *S3Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_REGION=" + s.Region,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		// Keep the SDK away from the machine's own profiles and IMDS.
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_REQUEST_CHECKSUM_CALCULATION=when_required",
		"AWS_RESPONSE_CHECKSUM_VALIDATION=when_required",
	}
}

// SetEnv sets Env in this process for the rest of the test (for code that
// loads the SDK's standard configuration itself).
func (s *S3Server) SetEnv(t *testing.T) {
	t.Helper()
	for _, kv := range s.Env() {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				t.Setenv(kv[:i], kv[i+1:])
				break
			}
		}
	}
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_PROFILE", "")
}

// Config is an SDK configuration reaching this server.
func (s *S3Server) Config() aws.Config {
	return aws.Config{
		Region:                     s.Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
}

// Client is a plain S3 client for this server, path-style.
func (s *S3Server) Client() *s3.Client {
	return s3.NewFromConfig(s.Config(), func(o *s3.Options) { o.UsePathStyle = true })
}

// CreateBucket creates a bucket and returns its name.
func (s *S3Server) CreateBucket(t T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	mustf(t, err, "creating bucket %s on %s", name, s.Endpoint)
	return name
}

// URL is the BUCKET value for bucket name.
func (s *S3Server) URL(name string) string { return fmt.Sprintf("s3://%s", name) }

// Keys lists every object key of bucket, sorted.
func (s *S3Server) Keys(t T, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		mustf(t, err, "listing %s", bucket)
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	return keys
}

// PendingUploads lists the keys of multipart uploads of bucket that were
// neither completed nor aborted.
func (s *S3Server) PendingUploads(t T, bucket string) []string {
	t.Helper()
	out, err := s.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	mustf(t, err, "listing the multipart uploads of %s", bucket)
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}
