package runner

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/envsync/envsync/runner/catalog"
	"github.com/envsync/envsync/runner/compress"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/testpause"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/metrics"
	"github.com/envsync/envsync/runner/progress"
	"github.com/envsync/envsync/runner/storage"
)

// dumpExt is the extension of a new dump's key: what it holds and its
// compression; in the gzip format, "gz" alone, as the scripts envsync
// replaces named every dump (and laptops look for).
func (r *Runner) dumpExt() string {
	if r.cfg.DumpFormat == DumpFormatGzip {
		return compress.GzipExt
	}
	switch r.cfg.Engine {
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
	return r.storeDump(ctx, r.store, r.dumperOf(r.eng))
}

// dumper writes a dump: compressed already in the stored format when
// compressed is true, else uncompressed; count, when set, counts the rows
// of an uncompressed dump as it streams by.
type dumper struct {
	dump       func(context.Context, io.Writer) error
	compressed bool
	count      func(io.Reader) (map[string]int64, error)
}

// dumperOf is eng's dump in the run's format: in the gzip format, an
// engine's own gzip-compressed format where it has one (PostgreSQL).
func (r *Runner) dumperOf(eng engine.Engine) dumper {
	if g, ok := eng.(engine.GzipDumper); ok && r.cfg.DumpFormat == DumpFormatGzip {
		return dumper{dump: g.DumpGzip, compressed: true}
	}
	d := dumper{dump: eng.Dump}
	if c, ok := eng.(engine.RowCounter); ok && !r.cfg.NoRowCounts {
		d.count = c.CountRows
	}
	return d
}

// storeDump stores what dump writes as a new dump of the database in store:
// compressed and hashed on the way, then its checksum sidecar, then (unless
// it shrank) the pointer, then the retention's clean-up.
func (r *Runner) storeDump(ctx context.Context, store storage.Store, dump dumper) (metrics.Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	key, err := r.newDumpKey(ctx, store)
	if err != nil {
		return metrics.Result{}, err
	}
	r.log.Info("dumping", "key", key, "store", store.String())

	pr, pw := io.Pipe()
	dumped := make(chan error, 1)
	var rows map[string]int64
	go func() {
		var err error
		rows, err = r.dumpCompressed(ctx, pw, dump)
		// nil closes with EOF: only a complete dump ends the upload cleanly.
		pw.CloseWithError(err)
		dumped <- err
	}()

	h := sha256.New()
	meter := progress.Start(r.log, "backup upload", r.cfg.ProgressInterval)
	size, putErr := store.Put(ctx, key, meter.Reader(io.TeeReader(testpause.Reader(pr, "upload"), h)))
	if putErr != nil {
		cancel() // stops the dump tool
		pr.CloseWithError(putErr)
	}
	dumpErr := <-dumped
	meter.Done()
	switch {
	case dumpErr != nil && !errors.Is(dumpErr, context.Canceled):
		if putErr == nil { // cannot happen: the store saw the error; be sure anyway
			store.Delete(context.WithoutCancel(ctx), key)
		}
		return metrics.Result{}, fmt.Errorf("dumping: %w", dumpErr)
	case putErr != nil:
		return metrics.Result{}, putErr
	case dumpErr != nil:
		return metrics.Result{}, dumpErr
	}
	sum := hex.EncodeToString(h.Sum(nil))

	if rows != nil {
		// Beside the dump, before its checksum: a dump with a checksum has
		// its counts, when its engine counts.
		b, _ := json.Marshal(rows)
		if _, err := store.Put(ctx, layout.RowsKey(key), bytes.NewReader(b)); err != nil {
			return metrics.Result{}, fmt.Errorf("storing the row counts of %s: %w", key, err)
		}
	}
	// sha256sum's format, so that `sha256sum -c` checks a downloaded dump.
	line := sum + "  " + path.Base(key) + "\n"
	if _, err := store.Put(ctx, layout.ChecksumKey(key), strings.NewReader(line)); err != nil {
		return metrics.Result{}, fmt.Errorf("storing the checksum of %s: %w", key, err)
	}
	pointer := layout.PointerKey(r.cfg.Instance, r.cfg.DB.Database)
	if err := r.refuseShrunk(ctx, store, key, size); err != nil {
		return metrics.Result{Size: size}, err
	}
	if _, err := store.Put(ctx, pointer, strings.NewReader(key)); err != nil {
		return metrics.Result{}, fmt.Errorf("updating %s: %w", pointer, err)
	}
	r.log.Info("backup stored", "key", key, "bytes", size, "sha256", sum, "pointer", pointer, "store", store.String())
	if keep := (catalog.Retention{Keep: r.cfg.KeepDumps, Days: r.cfg.KeepDays, Now: r.now()}); keep.Check() == nil {
		// The backup has succeeded: a failed clean-up is a warning, and the
		// next backup tries again.
		gone, err := catalog.Prune(ctx, store, r.cfg.Instance, r.cfg.DB.Database, keep, false)
		if err != nil {
			r.log.Warn("could not remove old dumps; the next backup tries again", "keeping", keep.String(), "error", err)
		} else if len(gone) > 0 {
			r.log.Info("removed old dumps", "keeping", keep.String(), "keys", gone)
		}
	}
	return metrics.Result{Size: size}, nil
}

// newDumpKey is the key of a new dump of the database: named after this
// second, or a later one when a dump of this second is stored already (a
// rerun within the second), so that no stored dump is ever overwritten, the
// pointer's least of all: keys are to the second (the object layout).
func (r *Runner) newDumpKey(ctx context.Context, store storage.Store) (string, error) {
	at := r.now().UTC().Truncate(time.Second)
	for range 60 {
		key := layout.DumpKey(r.cfg.Instance, r.cfg.DB.Database, at, r.dumpExt())
		objs, err := store.ListObjects(ctx, key)
		if err != nil {
			return "", fmt.Errorf("looking for %s before writing it: %w", key, err)
		}
		if !slices.ContainsFunc(objs, func(o storage.Object) bool { return o.Key == key }) {
			return key, nil
		}
		at = at.Add(time.Second)
	}
	return "", fmt.Errorf("a dump of every second of the last minute is stored for %s/%s", r.cfg.Instance, r.cfg.DB.Database)
}

// dumpCompressed writes d's dump to w in the run's compressed format, and
// returns its rows per table when d counts them (nil otherwise, or when
// they could not be counted: a warning, not a failed backup).
func (r *Runner) dumpCompressed(ctx context.Context, w io.Writer, d dumper) (map[string]int64, error) {
	// The compressor writes a few KiB per block; handing each to the
	// upload's goroutine would wake it (and a thread) every time.
	bw := bufio.NewWriterSize(w, 1<<20)
	if d.compressed {
		if err := d.dump(ctx, bw); err != nil {
			return nil, err
		}
		return nil, bw.Flush()
	}
	newWriter := compress.NewWriter
	if r.cfg.DumpFormat == DumpFormatGzip {
		newWriter = compress.NewGzipWriter
	}
	zw, err := newWriter(bw, r.cfg.CompressThreads)
	if err != nil {
		return nil, err
	}
	out := io.Writer(zw)
	var counted chan countResult
	var cw *io.PipeWriter
	if d.count != nil {
		// The counter reads the same bytes as they go by, in step: a
		// buffer apiece, no second read.
		var cr *io.PipeReader
		cr, cw = io.Pipe()
		counted = make(chan countResult, 1)
		go func() {
			rows, err := d.count(cr)
			io.Copy(io.Discard, cr) // a counter that gave up must not stall the dump
			counted <- countResult{rows, err}
		}()
		out = io.MultiWriter(zw, cw)
	}
	dumpErr := d.dump(ctx, out)
	var rows map[string]int64
	if cw != nil {
		cw.CloseWithError(dumpErr)
		c := <-counted
		if c.err != nil && dumpErr == nil {
			r.log.Warn("could not count the dump's rows; a restore of it checks none", "error", c.err)
		}
		rows = c.rows
	}
	if dumpErr != nil {
		zw.Close()
		return nil, dumpErr
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if c := rows; c != nil {
		r.log.Info("counted the dump's rows", "tables", len(c))
	}
	return rows, bw.Flush()
}

type countResult struct {
	rows map[string]int64
	err  error
}

// refuseShrunk keeps the pointer on the previous complete dump when the new
// one is much smaller (ShrinkFraction of it): a table truncated by accident
// upstream would otherwise become every downstream environment's data the
// next night. The new dump and its sidecar stay, listed as held; a rerun
// with ENVSYNC_ACCEPT_SHRUNK_DUMP=true moves the pointer to it. The sizes
// come from the upload and one listing: nothing is read twice.
func (r *Runner) refuseShrunk(ctx context.Context, store storage.Store, key string, size int64) error {
	if r.cfg.ShrinkFraction <= 0 || r.cfg.AcceptShrunk {
		return nil
	}
	prev, err := layout.ReadPointer(ctx, store, r.cfg.Instance, r.cfg.DB.Database)
	if err != nil || prev == "" {
		return err
	}
	objs, err := store.ListObjects(ctx, prev)
	if err != nil {
		return fmt.Errorf("sizing the previous dump %s: %w", prev, err)
	}
	for _, o := range objs {
		if o.Key == prev && float64(size) < r.cfg.ShrinkFraction*float64(o.Size) {
			return fmt.Errorf("the new dump %s is %d bytes, less than %g of the previous complete one (%s, %d bytes): the pointer stays on the previous one; if the data really shrank, rerun with ENVSYNC_ACCEPT_SHRUNK_DUMP=true",
				key, size, r.cfg.ShrinkFraction, prev, o.Size)
		}
	}
	return nil
}
