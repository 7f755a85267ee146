package storage_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/storage"
	"github.com/envsync/envsync/testenv"
)

// BenchmarkS3PutOfAStream uploads a 512 MiB generated stream of unknown
// length to versitygw, beside the baseline of reading the same stream into
// io.Discard: put_vs_discard is how much slower the upload is than merely
// producing the bytes.
func BenchmarkS3PutOfAStream(b *testing.B) {
	const size = 512 << 20
	srv := testenv.StartS3(b)
	bucket := srv.CreateBucket(b, "bench")
	st := storage.NewS3(srv.Config(), bucket, storage.S3Options{})
	ctx := context.Background()
	var put, discard time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := io.Copy(io.Discard, newStream(size)); err != nil {
			b.Fatal(err)
		}
		discard += time.Since(start)

		start = time.Now()
		if _, err := st.Put(ctx, "bench/stream", newStream(size)); err != nil {
			b.Fatal(err)
		}
		put += time.Since(start)
		st.Delete(ctx, "bench/stream")
	}
	b.ReportMetric(float64(size)*float64(b.N)/put.Seconds()/1e6, "put_MB/s")
	b.ReportMetric(float64(size)*float64(b.N)/discard.Seconds()/1e6, "discard_MB/s")
	b.ReportMetric(put.Seconds()/discard.Seconds(), "put_vs_discard")
}
