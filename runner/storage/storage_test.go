package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/envsync/envsync/runner/storage"
	"github.com/envsync/envsync/testenv"
)

// stream is n deterministic pseudo-random bytes, generated as they are read.
type stream struct {
	rng *rand.ChaCha8
	n   int64
}

func newStream(n int64) *stream {
	return &stream{rng: rand.NewChaCha8([32]byte{1, 2, 3}), n: n}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.n {
		p = p[:s.n]
	}
	s.rng.Read(p)
	s.n -= int64(len(p))
	return len(p), nil
}

// failingReader yields n bytes, then an error: a dump that dies midway.
type failingReader struct {
	r io.Reader
}

var errDumpDied = errors.New("pg_dump died")

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errDumpDied
	}
	return n, err
}

func sum(t *testing.T, r io.Reader) ([32]byte, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s, n
}

type stores struct {
	name string
	st   storage.Store
}

func openStores(t *testing.T) []stores {
	srv := testenv.StartS3(t)
	bucket := srv.CreateBucket(t, "dumps")
	dir, err := storage.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return []stores{
		{"s3", storage.NewS3(srv.Config(), bucket, storage.S3Options{PartSize: 5 << 20, Concurrency: 3})},
		{"file", dir},
	}
}

func TestAStreamOfUnknownLengthRoundTripsByteForByte(t *testing.T) {
	const size = 200 << 20
	for _, s := range openStores(t) {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			want, _ := sum(t, newStream(size))
			n, err := s.st.Put(ctx, "chat-postgres/2026-01-02T030405Z-chat.pgdump.zst", newStream(size))
			if err != nil {
				t.Fatal(err)
			}
			if n != size {
				t.Fatalf("Put reported %d bytes, want %d", n, size)
			}
			rc, err := s.st.Get(ctx, "chat-postgres/2026-01-02T030405Z-chat.pgdump.zst")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, gotN := sum(t, rc)
			if gotN != size || got != want {
				t.Fatalf("read back %d bytes with sha256 %x, want %d bytes with %x", gotN, got, size, want)
			}
		})
	}
}

func TestAStreamThatFailsMidwayLeavesNoObject(t *testing.T) {
	for _, s := range openStores(t) {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			// Larger than a part (a multipart upload is under way when it
			// fails) and smaller than one (a single PUT).
			for _, size := range []int64{23 << 20, 1 << 20} {
				_, err := s.st.Put(ctx, "i/broken.zst", failingReader{newStream(size)})
				if !errors.Is(err, errDumpDied) {
					t.Fatalf("Put of a failing %d-byte stream: error %v, want one wrapping %v", size, err, errDumpDied)
				}
				keys, err := s.st.List(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) != 0 {
					t.Fatalf("after a failed Put of %d bytes the bucket holds %q, want nothing", size, keys)
				}
				if s3s, ok := s.st.(*storage.S3); ok {
					pending, err := s3s.PendingUploads(ctx, "")
					if err != nil {
						t.Fatal(err)
					}
					if len(pending) != 0 {
						t.Fatalf("after a failed Put of %d bytes multipart uploads are left pending for %q", size, pending)
					}
				}
			}
		})
	}
}

func TestListGetAndDeleteFollowTheStoreContract(t *testing.T) {
	for _, s := range openStores(t) {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			for _, k := range []string{"b/2.txt", "a/latest-x.txt", "a/1.txt", "ab/3.txt"} {
				if _, err := s.st.Put(ctx, k, strings.NewReader(k)); err != nil {
					t.Fatal(err)
				}
			}
			keys, err := s.st.List(ctx, "a/")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(keys, ",") != "a/1.txt,a/latest-x.txt" {
				t.Fatalf("List(a/) = %q, want [a/1.txt a/latest-x.txt]", keys)
			}
			if _, err := s.st.Get(ctx, "a/missing"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
			}
			if err := s.st.Delete(ctx, "a/1.txt"); err != nil {
				t.Fatal(err)
			}
			if err := s.st.Delete(ctx, "a/1.txt"); err != nil {
				t.Fatalf("deleting a missing key: %v", err)
			}
			rc, err := s.st.Get(ctx, "a/latest-x.txt")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(b, []byte("a/latest-x.txt")) {
				t.Fatalf("Get returned %q", b)
			}
		})
	}
}

func TestAFolderStoreNeverShowsAPartialFile(t *testing.T) {
	root := t.TempDir()
	st, err := storage.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error)
	go func() { _, err := st.Put(context.Background(), "i/d.zst", pr); done <- err }()
	pw.Write(bytes.Repeat([]byte("x"), 1<<20))
	// Mid-write: the key is absent, only a hidden temporary file exists.
	if _, err := os.Stat(filepath.Join(root, "i", "d.zst")); !os.IsNotExist(err) {
		t.Fatalf("the object is visible before its stream ended: %v", err)
	}
	if keys, _ := st.List(context.Background(), ""); len(keys) != 0 {
		t.Fatalf("List shows %q mid-write", keys)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if keys, _ := st.List(context.Background(), ""); len(keys) != 1 || keys[0] != "i/d.zst" {
		t.Fatalf("List after Put = %q", keys)
	}
}

func TestOpenReadsTheBucketURL(t *testing.T) {
	for _, bad := range []string{"bucket", "s3://", "s3://b/prefix", "gs://b", "file://host/x"} {
		if _, err := storage.Open(context.Background(), bad, storage.S3Options{}); err == nil || !strings.Contains(err.Error(), "BUCKET") {
			t.Errorf("Open(%q) = %v, want an error naming BUCKET", bad, err)
		}
	}
	dir := t.TempDir()
	st, err := storage.Open(context.Background(), "file://"+dir, storage.S3Options{})
	if err != nil || st.String() != "file://"+dir {
		t.Fatalf("Open(file://%s) = %v, %v", dir, st, err)
	}
}

// An upload listed again after it was aborted (a part the server was still
// receiving landed after the abort: S3 documents that an upload may need
// aborting more than once) is aborted by the failed Put, later looks
// included; an upload of another key is not touched.
func TestAFailedUploadLeavesNoUploadListedEvenOneThatLandsAfterTheAbort(t *testing.T) {
	srv := testenv.StartS3(t)
	bucket := srv.CreateBucket(t, "dumps")
	st := storage.NewS3(srv.Config(), bucket, storage.S3Options{PartSize: 5 << 20, Concurrency: 3})
	client := s3.NewFromConfig(srv.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	create := func(key string) {
		if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			t.Error(err)
		}
	}
	const key, other = "i/late.zst", "i/late.zst.other"
	create(other)
	landed := make(chan struct{})
	r := &onFailure{r: failingReader{newStream(12 << 20)}, do: func() {
		go func() {
			defer close(landed)
			time.Sleep(600 * time.Millisecond)
			create(key)
		}()
	}}
	if _, err := st.Put(ctx, key, r); !errors.Is(err, errDumpDied) {
		t.Fatalf("Put: %v, want %v", err, errDumpDied)
	}
	<-landed
	pending, err := st.PendingUploads(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pending, " ") != other {
		t.Fatalf("uploads listed after the failed Put: %q, want only %q", pending, other)
	}
}

// onFailure calls do once, when r first fails.
type onFailure struct {
	r    io.Reader
	do   func()
	done bool
}

func (o *onFailure) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if err != nil && err != io.EOF && !o.done {
		o.done = true
		o.do()
	}
	return n, err
}

func TestAnEndpointFromTheStandardEnvironmentIsReachedPathStyle(t *testing.T) {
	srv := testenv.StartS3(t)
	srv.CreateBucket(t, "dumps")
	srv.SetEnv(t)
	// With an IP address the SDK falls back to path style by itself; with a
	// name, virtual-hosted style would ask for dumps.localhost.
	t.Setenv("AWS_ENDPOINT_URL_S3", strings.Replace(srv.Endpoint, "127.0.0.1", "localhost", 1))
	st, err := storage.Open(context.Background(), "s3://dumps", storage.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(context.Background(), "i/latest-d.txt", strings.NewReader("i/k")); err != nil {
		t.Fatalf("Put through AWS_ENDPOINT_URL_S3=%s: %v", os.Getenv("AWS_ENDPOINT_URL_S3"), err)
	}
	keys, err := st.List(context.Background(), "i/")
	if err != nil || len(keys) != 1 {
		t.Fatalf("List = %q, %v", keys, err)
	}
}
