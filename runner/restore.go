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
	"time"

	"github.com/envsync/envsync/runner/compress"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/gate"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/metrics"
	"github.com/envsync/envsync/runner/progress"
)

// ErrChecksum is wrapped by a restore refused because the dump's bytes do
// not match its recorded SHA-256.
var ErrChecksum = errors.New("checksum mismatch")

// restore chooses the dump and streams it, in one pass, into the engine's
// shadow-and-swap restore: download, decompress, hash and load together.
// Nothing of live changes before the swap, and the swap happens only when
// the whole object has been read, decompressed without error (zstd and gzip
// carry their own checksums), accepted whole by the engine (pg_restore, the
// mysqldump trailer, every block of a Mongo archive) and, when the object
// has a sidecar, hashed to the SHA-256 it records. A dump that fails any of
// these leaves live untouched and its shadow dropped.
//
// With LocalCopy (and an engine that can read a file), a first pass checks
// the dump and keeps it decompressed in an unlinked file under TMPDIR, which
// the engine then loads: PostgreSQL with pg_restore --jobs. It is not the
// default: on the 2-core benchmark (one large table, the server on the same
// cores) writing the copy costs more than the parallel load saves. It
// should pay where many large tables and indexes meet a server with cores
// to spare.
func (r *Runner) restore(ctx context.Context, script string) (metrics.Result, error) {
	// The pointer, the listing and the sidecar are small: all of them
	// within the stall timeout, or the restore fails rather than hangs.
	small, cancel := context.WithTimeoutCause(ctx, r.stallTimeout(),
		fmt.Errorf("reading the pointer, listing and checksum sidecar took more than %s (ENVSYNC_STALL_TIMEOUT)", r.stallTimeout()))
	defer cancel()
	d, how, err := layout.Choose(small, r.store, r.cfg.Instance, r.cfg.DB.Database, r.cfg.Filename)
	if err != nil {
		return metrics.Result{}, withCause(small, err)
	}
	r.log.Info("restoring", "key", d.Key, "chosen_by", string(how), "dump_time", d.Time, "sanitise", script != "")

	want, err := r.recordedSum(small, d.Key)
	if err != nil {
		return metrics.Result{}, withCause(small, err)
	}
	rows, err := layout.RecordedRows(small, r.store, d.Key)
	if err != nil {
		return metrics.Result{}, withCause(small, err)
	}
	cancel()
	if rows == nil {
		r.log.Info("no row counts beside the dump (an older dump, or an engine that counts none): the loaded copy's rows are not checked", "key", d.Key)
	}
	if want == "" {
		r.log.Warn("no checksum sidecar (a dump from the old scripts?): relying on the compression's checksums and the engine's completeness check", "key", d.Key)
	}
	opts, err := r.sanitising(script)
	if err != nil {
		return metrics.Result{}, err
	}
	opts.Rows = rows
	gateReport := func() *metrics.GateReport { return report(opts.Gate) }

	if fr, ok := r.eng.(fileRestorer); ok && r.cfg.LocalCopy {
		done, sum, err := r.restoreLocalCopy(ctx, d.Key, want, fr, opts)
		if done || err != nil {
			return metrics.Result{Size: sum.size, DumpTime: d.Time, Gate: gateReport()}, err
		}
		want = sum.sha256 // the stream must read the bytes just checked
	}

	size, err := r.restoreStream(ctx, d.Key, want, opts)
	if err != nil {
		return metrics.Result{Gate: gateReport()}, err
	}
	return metrics.Result{Size: size, DumpTime: d.Time, Gate: gateReport()}, nil
}

// sanitising is what a restore of the shadow runs: the script and, when the
// sync has a classification, the personal-data gate that proves it worked.
func (r *Runner) sanitising(script string) (engine.RestoreOptions, error) {
	opts := engine.RestoreOptions{SanitiseScript: script}
	if r.cfg.Classification != "" && script != "" {
		p, err := gate.Load(r.cfg.Classification)
		if err != nil {
			return opts, err
		}
		opts.Gate = gate.New(p)
	}
	return opts, nil
}

// report is what the gate g found, for the metrics (nil: no gate ran).
func report(g *gate.Check) *metrics.GateReport {
	if g == nil {
		return nil
	}
	return &metrics.GateReport{Checked: g.Checked, Findings: g.Findings}
}

// restoreStream is the one-pass restore of key; want is the object's
// expected SHA-256, "" when unknown. It returns the object's size.
func (r *Runner) restoreStream(ctx context.Context, key, want string, opts engine.RestoreOptions) (int64, error) {
	rc, err := r.download(ctx, key)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	meter := progress.Start(r.log, "restore download", r.cfg.ProgressInterval)
	defer meter.Done()
	// The object's size, from one listing: the progress lines give the
	// percentage done and the time left.
	if objs, err := r.store.ListObjects(ctx, key); err == nil {
		for _, o := range objs {
			if o.Key == key {
				meter.SetTotal(o.Size)
			}
		}
	}
	h := sha256.New()
	raw := meter.Reader(io.TeeReader(rc, h))
	dec, format, err := compress.NewReader(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	defer dec.Close()
	stream := damaged{dec, format}
	checked := false
	check := func() error {
		checked = true
		// The engine may stop reading before the end of the stream (a
		// trailer); every byte must decompress and be hashed anyway.
		if _, err := io.Copy(io.Discard, stream); err != nil {
			return fmt.Errorf("refusing %s: %w", key, err)
		}
		if _, err := io.Copy(io.Discard, raw); err != nil {
			return fmt.Errorf("reading the rest of %s: %w", key, err)
		}
		got := hex.EncodeToString(h.Sum(nil))
		if want != "" && got != want {
			return checksumMismatch(key, got, want)
		}
		r.log.Info("the whole dump was read and matches its checksum; swapping", "key", key, "sha256", got)
		return nil
	}
	opts.BeforeSwap = check
	r.log.Info("loading into the shadow copy", "key", key, "format", string(format))
	if err := r.eng.Restore(ctx, stream, opts); err != nil {
		return 0, fmt.Errorf("restoring %s: %w", key, err)
	}
	if !checked {
		// The engine broke its contract; at least say whether the bytes matched.
		if err := check(); err != nil {
			return 0, fmt.Errorf("after the swap (the engine did not call BeforeSwap): %w", err)
		}
	}
	return meter.Bytes(), nil
}

func checksumMismatch(key, got, want string) error {
	return fmt.Errorf("%s: %w: the object's SHA-256 is %s, %s expected %s", key, ErrChecksum, got, layout.ChecksumKey(key), want)
}

// damaged says, in an error reading a decompressed stream that is neither
// its end nor the download's, that the dump is damaged: the engine reports
// it as its input's error.
type damaged struct {
	r      io.Reader
	format compress.Format
}

func (d damaged) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF && !errors.As(err, new(downloadError)) {
		err = fmt.Errorf("the dump is damaged (%s stream): %w", d.format, err)
	}
	return n, err
}

// downloadError is a read error of the object's body, as opposed to the
// dump's content.
type downloadError struct{ err error }

func (e downloadError) Error() string { return "downloading the dump: " + e.err.Error() }
func (e downloadError) Unwrap() error { return e.err }

// localSum is what the local copy's pass measured of the object.
type localSum struct {
	sha256 string
	size   int64
}

// restoreLocalCopy checks key whole while keeping it decompressed in a
// local file, then loads that file. done is false when there was no room
// for the copy: the caller then streams the object, expecting the SHA-256
// in sum when this pass read it.
func (r *Runner) restoreLocalCopy(ctx context.Context, key, want string, fr fileRestorer, opts engine.RestoreOptions) (done bool, sum localSum, err error) {
	local := r.openLocalCopy(os.TempDir())
	if local == nil {
		return false, sum, nil // it said why
	}
	defer local.Close()
	sum.sha256, sum.size, err = r.verify(ctx, key, local)
	if err != nil {
		return false, sum, err
	}
	if want != "" && sum.sha256 != want {
		return false, sum, checksumMismatch(key, sum.sha256, want)
	}
	local.finish()
	if local.err != nil {
		r.log.Warn("no local copy of the dump; downloading it again", "key", key, "reason", local.err)
		return false, sum, nil
	}
	// The file holds exactly the bytes just checked; it has no name, so
	// nothing else can change it.
	r.log.Info("loading into the shadow copy from the verified local copy", "key", key, "bytes", local.n)
	opts.BeforeSwap = func() error {
		fi, err := local.f.Stat()
		if err != nil || fi.Size() != local.n {
			return fmt.Errorf("the local copy of %s changed size after verification (%v)", key, err)
		}
		return nil
	}
	return true, sum, fr.RestoreFile(ctx, local.f, opts)
}

// recordedSum reads the sidecar of key; "" when there is none.
func (r *Runner) recordedSum(ctx context.Context, key string) (string, error) {
	return layout.RecordedSum(ctx, r.store, key)
}

// verify reads the whole dump once, touching no database: it returns the
// object's SHA-256 and size if it decompresses and the engine accepts it.
// The decompressed bytes also go to local, when it is not nil.
func (r *Runner) verify(ctx context.Context, key string, local *localCopy) (string, int64, error) {
	rc, err := r.download(ctx, key)
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

// download opens key for reading; its read errors are downloadErrors, and
// a download that receives nothing for the stall timeout fails (its reads
// return the reason) instead of hanging until the job's deadline.
func (r *Runner) download(ctx context.Context, key string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	rc, err := r.store.Get(ctx, key)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	timeout := r.stallTimeout()
	stall := fmt.Errorf("the download of %s received nothing for %s (ENVSYNC_STALL_TIMEOUT)", key, timeout)
	return &watchdog{rc: rc, ctx: ctx, cancel: cancel, timer: time.AfterFunc(timeout, func() { cancel(stall) }), timeout: timeout}, nil
}

// watchdog cancels a download when its timer fires; every read that
// returns data restarts the timer.
type watchdog struct {
	rc      io.ReadCloser
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	timeout time.Duration
}

func (w *watchdog) Read(p []byte) (int, error) {
	n, err := w.rc.Read(p)
	if n > 0 {
		w.timer.Reset(w.timeout)
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(w.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		err = downloadError{err}
	}
	return n, err
}

func (w *watchdog) Close() error {
	w.timer.Stop()
	w.cancel(nil)
	return w.rc.Close()
}

func (r *Runner) stallTimeout() time.Duration {
	if r.cfg.StallTimeout <= 0 {
		return DefaultStallTimeout
	}
	return r.cfg.StallTimeout
}

// withCause names why ctx ended, when it did, beside err.
func withCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(err, cause) {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}
