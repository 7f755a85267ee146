// Package compress compresses dumps outside the dump tool, on a core of its own, and
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

// Encoder settings: zstd streams with one encoder goroutine beside the
// writer, whatever its concurrency, so its memory is a history of twice the
// window plus a few 128 KiB blocks. The fastest level finds its matches in
// a small hash table of recent positions: a longer window barely changes
// the ratio. (WithLowerEncoderMem would halve the history, but then moves
// the whole window down after every block.)
//
// S2 (klauspost/compress/s2, concurrent stream writer, default level) was
// tried in its place: on a 424 MB pg_dump -Z0 stream of pgbench scale 30 it
// costs 0.2 s of CPU against zstd's 0.5 s, but compresses 3.2:1 against
// 6.5:1, and the doubled upload through SHA-256, the S3 client and the S3
// server cost more than the CPU it saves. In the PostgreSQL benchmark (one
// run each order, 2 cores) the backup took 1.57x the limit with S2 against
// 1.13x and 1.25x with zstd.
const (
	window = 1 << 20
	// EncoderBytes bounds what NewWriter's encoder holds.
	EncoderBytes = 2*window + 1<<20
)

// GzipExt is the extension of dumps in the gzip format (DumpFormatGzip):
// what the scripts envsync replaces wrote and developers' laptops read.
const GzipExt = "gz"

// gzipBlock is the block pgzip compresses at once; it keeps blocks+1 of
// them in memory.
const gzipBlock = 256 << 10

// NewGzipWriter compresses into w with gzip's fastest level, for readers
// that know gzip only (`gunzip | mysql` on a laptop); concurrency as for
// NewWriter. Close flushes.
func NewGzipWriter(w io.Writer, concurrency int) (io.WriteCloser, error) {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	z, err := pgzip.NewWriterLevel(w, pgzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	return z, z.SetConcurrency(gzipBlock, 2*concurrency)
}

// NewWriter compresses into w with zstd's fastest level: it compresses
// better than gzip -1 and keeps pace with pg_dump -Z0 on one core.
// concurrency 1 compresses in the writer's goroutine; more (or 0, all
// cores) lets the writer fill the next block while the previous is
// compressed, which takes twice the CPU and half as long again for the
// same bytes (go test -bench Concurrency ./runner/compress/). Close flushes.
func NewWriter(w io.Writer, concurrency int) (io.WriteCloser, error) {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(concurrency),
		zstd.WithWindowSize(window),
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
