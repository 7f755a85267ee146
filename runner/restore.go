package runner

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/envsync/envsync/runner/compress"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/metrics"
	"github.com/envsync/envsync/runner/progress"
)

// ErrChecksum is wrapped by a restore refused because the dump's bytes do
// not match its recorded SHA-256.
var ErrChecksum = errors.New("checksum mismatch")

// restore chooses the dump, verifies it without touching any database, then
// streams it again into the engine's shadow-and-swap restore; the swap
// happens only if the second pass read the very bytes the first verified.
//
// With LocalCopy, the verification pass also keeps the decompressed dump in
// a file under TMPDIR (when the engine can read one and there is room), and
// the engine loads that file instead of a second download: PostgreSQL then
// restores with pg_restore --jobs. It is not the default: on the 2-core
// benchmark (one large table, the server on the same cores) writing the copy
// costs more than the parallel load saves, and the second download overlaps
// the load anyway. It should pay (not measured here) where downloads are
// slow, or where many large tables and indexes meet a server with cores to
// spare.
func (r *Runner) restore(ctx context.Context, script string) (metrics.Result, error) {
	d, how, err := layout.Choose(ctx, r.store, r.cfg.Instance, r.cfg.DB.Database, r.cfg.Filename)
	if err != nil {
		return metrics.Result{}, err
	}
	r.log.Info("restoring", "key", d.Key, "chosen_by", string(how), "dump_time", d.Time, "sanitise", script != "")

	recorded, err := r.recordedSum(ctx, d.Key)
	if err != nil {
		return metrics.Result{}, err
	}

	fr, canReadFile := r.eng.(fileRestorer)
	var local *localCopy
	if canReadFile && r.cfg.LocalCopy {
		local = r.openLocalCopy(os.TempDir())
		defer local.Close()
	}

	// Pass 1: download, decompress, hash, let the engine read it whole. A
	// truncated, corrupt or foreign dump stops here.
	verified, size, err := r.verify(ctx, d.Key, local)
	if err != nil {
		return metrics.Result{}, err
	}
	if recorded != "" && verified != recorded {
		return metrics.Result{}, fmt.Errorf("%s: %w: the object's SHA-256 is %s, its sidecar %s says %s", d.Key, ErrChecksum, verified, layout.ChecksumKey(d.Key), recorded)
	}
	if recorded == "" {
		r.log.Warn("no checksum sidecar (a dump from the old scripts?): checking both passes read the same bytes only", "key", d.Key)
	}

	if local != nil {
		local.finish()
	}
	if local != nil && local.err == nil {
		// The file holds exactly the bytes the verification read; it has no
		// name, so nothing else can change it.
		r.log.Info("loading into the shadow copy from the verified local copy", "key", d.Key, "bytes", local.n)
		check := func() error {
			fi, err := local.f.Stat()
			if err != nil || fi.Size() != local.n {
				return fmt.Errorf("the local copy of %s changed size after verification (%v)", d.Key, err)
			}
			return nil
		}
		if err := fr.RestoreFile(ctx, local.f, engine.RestoreOptions{SanitiseScript: script, BeforeSwap: check}); err != nil {
			return metrics.Result{}, err
		}
		return metrics.Result{Size: size, DumpTime: d.Time}, nil
	}
	if local != nil {
		r.log.Warn("no local copy of the dump; downloading it again", "key", d.Key, "reason", local.err)
		local.Close() // give the space back before the second pass
	}

	// Pass 2: the real restore.
	rc, err := r.store.Get(ctx, d.Key)
	if err != nil {
		return metrics.Result{}, err
	}
	defer rc.Close()
	meter := progress.Start(r.log, "restore download", r.cfg.ProgressInterval)
	defer meter.Done()
	h := sha256.New()
	raw := meter.Reader(io.TeeReader(rc, h))
	dec, format, err := compress.NewReader(raw)
	if err != nil {
		return metrics.Result{}, fmt.Errorf("%s: %w", d.Key, err)
	}
	defer dec.Close()
	checked := false
	check := func() error {
		checked = true
		// The engine may stop reading before the end of the stream (a
		// trailer); hash every byte anyway.
		if _, err := io.Copy(io.Discard, dec); err != nil {
			return fmt.Errorf("reading the rest of %s: %w", d.Key, err)
		}
		if _, err := io.Copy(io.Discard, raw); err != nil {
			return fmt.Errorf("reading the rest of %s: %w", d.Key, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != verified {
			return fmt.Errorf("%s: %w: changed between verification (%s) and restore (%s)", d.Key, ErrChecksum, verified, got)
		}
		r.log.Info("restore pass read the verified bytes; swapping", "key", d.Key, "sha256", verified)
		return nil
	}
	r.log.Info("loading into the shadow copy", "key", d.Key, "format", string(format))
	err = r.eng.Restore(ctx, dec, engine.RestoreOptions{SanitiseScript: script, BeforeSwap: check})
	if err != nil {
		return metrics.Result{}, err
	}
	if !checked {
		// The engine broke its contract; at least say whether the bytes matched.
		if err := check(); err != nil {
			return metrics.Result{}, fmt.Errorf("after the swap (the engine did not call BeforeSwap): %w", err)
		}
	}
	return metrics.Result{Size: size, DumpTime: d.Time}, nil
}

// recordedSum reads the sidecar of key; "" when there is none.
func (r *Runner) recordedSum(ctx context.Context, key string) (string, error) {
	return layout.RecordedSum(ctx, r.store, key)
}

// verify reads the whole dump once, touching no database: it returns the
// object's SHA-256 and size if it decompresses and the engine accepts it.
// The decompressed bytes also go to local, when it is not nil.
func (r *Runner) verify(ctx context.Context, key string, local *localCopy) (string, int64, error) {
	rc, err := r.store.Get(ctx, key)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	meter := progress.Start(r.log, "verification download", r.cfg.ProgressInterval)
	defer meter.Done()
	h := sha256.New()
	raw := meter.Reader(io.TeeReader(rc, h))
	dec, format, err := compress.NewReader(raw)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", key, err)
	}
	defer dec.Close()
	var plain io.Reader = dec
	if local != nil {
		plain = io.TeeReader(dec, local)
	}
	r.log.Info("verifying the dump before touching any database", "key", key, "format", string(format), "local_copy", local != nil)
	if err := r.eng.Check(ctx, plain); err != nil {
		return "", 0, fmt.Errorf("refusing %s: not a complete, readable %s dump: %w", key, r.cfg.Engine, err)
	}
	if _, err := io.Copy(io.Discard, plain); err != nil {
		return "", 0, fmt.Errorf("refusing %s: %s stream damaged: %w", key, format, err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), meter.Bytes(), nil
}

// fileRestorer is an engine that can also restore from a seekable local
// file (PostgreSQL: pg_restore --jobs).
type fileRestorer interface {
	RestoreFile(ctx context.Context, f *os.File, opts engine.RestoreOptions) error
}

// localCopy is the decompressed dump written to an unlinked file while the
// verification pass reads it: the restore reads it back instead of
// downloading again, and the file disappears with its descriptor on every
// path, a SIGKILL included. A goroutine writes it in 1 MiB chunks, beside
// the verification rather than in its way. It never fails the
// verification: a write error, or a dump larger than the space it may take,
// abandons the copy (err, once finish has returned).
type localCopy struct {
	f      *os.File
	budget int64 // bytes it may take
	n      int64 // bytes accepted
	err    error
	buf    *bufio.Writer // into pw, read by the writing goroutine
	pw     *io.PipeWriter
	done   chan error // the writing goroutine's result, then closed
}

func newLocalCopy(f *os.File, budget int64) *localCopy {
	pr, pw := io.Pipe()
	c := &localCopy{f: f, budget: budget, pw: pw, buf: bufio.NewWriterSize(pw, 1<<20), done: make(chan error, 1)}
	go func() {
		// The file hidden behind io.Writer, so that the copy reads whole
		// chunks instead of os.File.ReadFrom's 32 KiB.
		_, err := io.CopyBuffer(struct{ io.Writer }{f}, pr, make([]byte, 1<<20))
		pr.CloseWithError(err)
		c.done <- err
		close(c.done)
	}()
	return c
}

// openLocalCopy makes a local copy in dir if its filesystem is on disk and
// has room: it may fill the free space down to a reserve of a tenth of the
// filesystem, at least 1 GiB. A filesystem in memory (tmpfs, an emptyDir of
// medium Memory) is refused: the copy would count against the pod's memory.
// nil when there is no room.
func (r *Runner) openLocalCopy(dir string) *localCopy {
	const tmpfsMagic, ramfsMagic = 0x01021994, 0x858458f6
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		r.log.Warn("no local copy of the dump: cannot read the free space", "dir", dir, "error", err)
		return nil
	}
	if st.Type == tmpfsMagic || st.Type == ramfsMagic {
		r.log.Info("no local copy of the dump: the temporary directory is in memory", "dir", dir)
		return nil
	}
	free, total := int64(st.Bavail)*st.Bsize, int64(st.Blocks)*st.Bsize
	budget := free - max(1<<30, total/10)
	if budget < 64<<20 {
		r.log.Info("no local copy of the dump: too little free space", "dir", dir, "free_bytes", free)
		return nil
	}
	f, err := os.CreateTemp(dir, "envsync-restore-*.dump")
	if err != nil {
		r.log.Warn("no local copy of the dump", "dir", dir, "error", err)
		return nil
	}
	os.Remove(f.Name())
	return newLocalCopy(f, budget)
}

func (c *localCopy) Write(p []byte) (int, error) {
	if c.err != nil {
		return len(p), nil
	}
	if c.n+int64(len(p)) > c.budget {
		c.abandon(fmt.Errorf("the dump is larger than the %d MiB the local copy may take", c.budget>>20))
		return len(p), nil
	}
	if _, err := c.buf.Write(p); err != nil {
		c.abandon(fmt.Errorf("writing the local copy: %w", err))
		return len(p), nil
	}
	c.n += int64(len(p))
	return len(p), nil
}

func (c *localCopy) abandon(err error) {
	c.err = err
	c.pw.CloseWithError(err)
}

// finish waits until every accepted byte is in the file, or the copy is
// abandoned; c.err says which.
func (c *localCopy) finish() {
	if c.err == nil {
		if err := c.buf.Flush(); err != nil {
			c.abandon(fmt.Errorf("writing the local copy: %w", err))
		}
	}
	c.pw.Close()
	if err := <-c.done; err != nil && c.err == nil {
		c.err = fmt.Errorf("writing the local copy: %w", err)
	}
}

// Close frees the copy's space; it may be called more than once.
func (c *localCopy) Close() {
	if c != nil && c.f != nil {
		c.finish()
		c.f.Close()
		c.f = nil
		if c.err == nil {
			c.err = errors.New("closed")
		}
	}
}
