package compress_test

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/compress"
)

func sample() []byte {
	return bytes.Repeat([]byte("INSERT INTO t VALUES (1, 'hello');\n"), 200000)
}

func zstdOf(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w, err := compress.NewWriter(&buf, 2)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipOf(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, 1)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestEachStoredFormatIsRecognisedByItsFirstBytes(t *testing.T) {
	plain := sample()
	pgCustom := append([]byte("PGDMP\x01\x0f\x00"), plain...)
	for _, c := range []struct {
		name   string
		stored []byte
		want   []byte
		format compress.Format
	}{
		{"envsync's zstd", zstdOf(t, plain), plain, compress.Zstd},
		{"the old mysqldump | gzip", gzipOf(plain), plain, compress.Gzip},
		{"the old pg_dump -Fc, raw", pgCustom, pgCustom, compress.Raw},
		{"an empty object", nil, nil, compress.Raw},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, f, err := compress.NewReader(bytes.NewReader(c.stored))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if f != c.format {
				t.Errorf("format %s, want %s", f, c.format)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.want) {
				t.Errorf("read %d bytes, want the %d original bytes", len(got), len(c.want))
			}
		})
	}
}

func TestATruncatedOrCorruptCompressedDumpIsAReadError(t *testing.T) {
	z := zstdOf(t, sample())
	g := gzipOf(sample())
	corrupt := bytes.Clone(z)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] ^= 0xff
	}
	for name, stored := range map[string][]byte{
		"zstd cut in half":       z[:len(z)/2],
		"gzip cut in half":       g[:len(g)/2],
		"zstd with flipped bits": corrupt,
	} {
		t.Run(name, func(t *testing.T) {
			r, _, err := compress.NewReader(bytes.NewReader(stored))
			if err == nil {
				_, err = io.Copy(io.Discard, r)
			}
			if err == nil {
				t.Fatal("read the whole damaged stream without an error")
			}
			t.Logf("error: %v", err)
		})
	}
}

// dumpLike is n bytes of what pg_dump -Z0 writes of the runner benchmark's
// database: pgbench_accounts rows (numbers, a blank-padded filler) and
// documents rows (sixteen md5 words), half each.
func dumpLike(n int) []byte {
	b := make([]byte, 0, n+1024)
	for i := 1; len(b) < n/2; i++ {
		b = fmt.Appendf(b, "%d\t%d\t0\t%84s\n", i, 1+i/100000, "")
	}
	for i := 1; len(b) < n; i++ {
		b = fmt.Appendf(b, "%d\tDocument %d\t", i, i)
		for j := range 16 {
			sum := md5.Sum([]byte(strconv.Itoa(i*16 + j)))
			b = hex.AppendEncode(b, sum[:])
			b = append(b, ' ')
		}
		b[len(b)-1] = '\n'
	}
	return b
}

func cpuTime() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// BenchmarkConcurrency compresses a 256 MiB dump-like stream, written in
// the 32 KiB pieces a pipe from pg_dump gives, with one encoder goroutine
// beside the writer (concurrency 2) and in the writer's own (1), and
// reports the CPU and the time of 2 against 1.
func BenchmarkConcurrency(b *testing.B) {
	data := dumpLike(256 << 20)
	run := func(concurrency int) (cpu, wall time.Duration, size int) {
		var out countingWriter
		w, err := compress.NewWriter(&out, concurrency)
		if err != nil {
			b.Fatal(err)
		}
		c0, t0 := cpuTime(), time.Now()
		for off := 0; off < len(data); off += 32 << 10 {
			w.Write(data[off:min(off+32<<10, len(data))])
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		return cpuTime() - c0, time.Since(t0), int(out)
	}
	run(1) // the data's pages, the encoder's tables
	b.ResetTimer()
	for range b.N {
		cpu1, wall1, size1 := run(1)
		cpu2, wall2, size2 := run(2)
		if size1 != size2 {
			b.Fatalf("concurrency 1 wrote %d bytes, 2 wrote %d", size1, size2)
		}
		b.ReportMetric(cpu2.Seconds()/cpu1.Seconds(), "cpu-2/1")
		b.ReportMetric(wall2.Seconds()/wall1.Seconds(), "time-2/1")
		b.ReportMetric(float64(len(data))/float64(size1), "ratio")
	}
}

type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
