package runner

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/envsync/envsync/runner/compress"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/metrics"
	"github.com/envsync/envsync/runner/progress"
)

// dumpExt names what a dump holds, before the compression's extension.
func dumpExt(engineName string) string {
	switch engineName {
	case "postgres":
		return "pgdump." + compress.Ext
	case "mysql":
		return "sql." + compress.Ext
	}
	return "dump." + compress.Ext
}

// backup streams engine dump -> zstd -> SHA-256 and progress ->
// store, with no temporary file. The checksum sidecar follows, and the
// pointer only once both are stored.
func (r *Runner) backup(ctx context.Context) (metrics.Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	at := r.now().UTC()
	key := layout.DumpKey(r.cfg.Instance, r.cfg.DB.Database, at, dumpExt(r.cfg.Engine))
	r.log.Info("dumping", "key", key, "store", r.store.String())

	pr, pw := io.Pipe()
	dumped := make(chan error, 1)
	go func() {
		err := r.dumpCompressed(ctx, pw)
		// nil closes with EOF: only a complete dump ends the upload cleanly.
		pw.CloseWithError(err)
		dumped <- err
	}()

	h := sha256.New()
	meter := progress.Start(r.log, "backup upload", r.cfg.ProgressInterval)
	size, putErr := r.store.Put(ctx, key, meter.Reader(io.TeeReader(pr, h)))
	if putErr != nil {
		cancel() // stops the dump tool
		pr.CloseWithError(putErr)
	}
	dumpErr := <-dumped
	meter.Done()
	switch {
	case dumpErr != nil && !errors.Is(dumpErr, context.Canceled):
		if putErr == nil { // cannot happen: the store saw the error; be sure anyway
			r.store.Delete(context.WithoutCancel(ctx), key)
		}
		return metrics.Result{}, fmt.Errorf("dumping: %w", dumpErr)
	case putErr != nil:
		return metrics.Result{}, putErr
	case dumpErr != nil:
		return metrics.Result{}, dumpErr
	}
	sum := hex.EncodeToString(h.Sum(nil))

	// sha256sum's format, so that `sha256sum -c` checks a downloaded dump.
	line := sum + "  " + path.Base(key) + "\n"
	if _, err := r.store.Put(ctx, layout.ChecksumKey(key), strings.NewReader(line)); err != nil {
		return metrics.Result{}, fmt.Errorf("storing the checksum of %s: %w", key, err)
	}
	pointer := layout.PointerKey(r.cfg.Instance, r.cfg.DB.Database)
	if _, err := r.store.Put(ctx, pointer, strings.NewReader(key)); err != nil {
		return metrics.Result{}, fmt.Errorf("updating %s: %w", pointer, err)
	}
	r.log.Info("backup stored", "key", key, "bytes", size, "sha256", sum, "pointer", pointer)
	return metrics.Result{Size: size}, nil
}

func (r *Runner) dumpCompressed(ctx context.Context, w io.Writer) error {
	// The compressor writes a few KiB per block; handing each to the
	// upload's goroutine would wake it (and a thread) every time.
	bw := bufio.NewWriterSize(w, 1<<20)
	zw, err := compress.NewWriter(bw, r.cfg.CompressThreads)
	if err != nil {
		return err
	}
	if err := r.eng.Dump(ctx, zw); err != nil {
		zw.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}
