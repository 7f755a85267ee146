// Package compress compresses dumps outside the dump tool, in parallel, and
// reads back any dump a bucket may hold by its first bytes: zstd (envsync),
// gzip (the old `mysqldump | gzip` scripts) or raw (the old `pg_dump -Fc`,
// compressed inside its own format).
package compress

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Format is how a stored dump is compressed.
type Format string

const (
	Zstd Format = "zstd"
	Gzip Format = "gzip"
	Raw  Format = "raw"
)

// Ext is the extension of dumps envsync writes.
const Ext = "zst"

var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// NewWriter compresses into w with zstd on up to concurrency cores (all
// cores when 0). Zstd's fastest level still compresses better than gzip -1
// and, on its own cores, keeps pace with pg_dump -Z0. Close flushes.
func NewWriter(w io.Writer, concurrency int) (io.WriteCloser, error) {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(concurrency),
		// Bounded memory: each of the concurrent blocks holds a window.
		zstd.WithWindowSize(4<<20),
	)
}

// NewReader detects the format of r by its magic bytes and returns the
// decompressed stream. A truncated or corrupt compressed stream gives a read
// error, never a silent short read.
func NewReader(r io.Reader) (io.ReadCloser, Format, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, "", fmt.Errorf("reading the dump's first bytes: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, zstdMagic):
		d, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(2),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(64<<20),
		)
		if err != nil {
			return nil, "", err
		}
		return zstdReadCloser{d}, Zstd, nil
	case bytes.HasPrefix(head, gzipMagic):
		// pgzip decompresses ahead on another core, 4 blocks of 1 MiB.
		z, err := pgzip.NewReaderN(br, 1<<20, 4)
		if err != nil {
			return nil, "", fmt.Errorf("reading the gzip header: %w", err)
		}
		return z, Gzip, nil
	default:
		return io.NopCloser(br), Raw, nil
	}
}

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }
