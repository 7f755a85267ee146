package compress_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

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
