package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/testpause"
	"github.com/envsync/envsync/runner/metrics"
)

// publish is a sanitised backup, from one read of the live database:
//
//	live dump ─┬─> the scratch server: shadow, sanitise script, gate, swap
//	           └─> zstd ─> RAW_BUCKET (when one is declared)
//	scratch dump ─> zstd ─> BUCKET: checksum, then pointer
//
// The live database is only read (the engines' dumps open read-only
// sessions). Nothing is published until the scratch holds the sanitised
// data: a failure anywhere before leaves BUCKET's pointer on the previous
// complete dump and no partial object. The raw dump, a disaster-recovery
// copy, is stored whole before the script runs, so a failing script does
// not stop it.
func (r *Runner) publish(ctx context.Context, script string) (metrics.Result, error) {
	if r.scratch == nil {
		return metrics.Result{}, errors.New("publish has no scratch server (SCRATCH_USER, SCRATCH_PASSWORD_FILE)")
	}
	opts, err := r.sanitising(script)
	if err != nil {
		return metrics.Result{}, err
	}
	if err := r.waitForScratch(ctx); err != nil {
		return metrics.Result{}, err
	}
	if err := r.loadScratch(ctx, opts); err != nil {
		return metrics.Result{Gate: report(opts.Gate)}, err
	}
	r.log.Info("the scratch holds the sanitised data; publishing its dump", "store", r.store.String())
	testpause.At("publish-dump")
	res, err := r.storeDump(ctx, r.store, r.dumperOf(r.scratch))
	res.Gate = report(opts.Gate)
	return res, err
}

// loadScratch streams the live database's dump into the scratch server's
// restore (and, beside it, into the raw bucket); the scratch's swap waits
// for the whole dump, the raw one stored.
func (r *Runner) loadScratch(ctx context.Context, opts engine.RestoreOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	dumped := make(chan error, 1)
	go func() {
		var err error
		if r.raw != nil {
			// The scratch loads the uncompressed dump: the raw copy is
			// compressed by the runner, whatever the engine's own format.
			raw := dumper{dump: func(ctx context.Context, w io.Writer) error {
				return r.eng.Dump(ctx, io.MultiWriter(w, pw))
			}}
			if c, ok := r.eng.(engine.RowCounter); ok && !r.cfg.NoRowCounts {
				raw.count = c.CountRows
			}
			_, err = r.storeDump(ctx, r.raw, raw)
		} else {
			err = r.eng.Dump(ctx, pw)
		}
		// nil closes with EOF: only a complete dump (and a stored raw one)
		// lets the scratch's restore finish.
		pw.CloseWithError(err)
		dumped <- err
	}()
	opts.BeforeSwap = func() error {
		// The engine may stop reading before the end of the stream.
		if _, err := io.Copy(io.Discard, pr); err != nil {
			return fmt.Errorf("the live dump did not complete: %w", err)
		}
		return nil
	}
	r.log.Info("loading the live dump into the scratch server", "scratch", net.JoinHostPort(r.cfg.Scratch.Host, strconv.Itoa(r.cfg.Scratch.Port)), "raw_store", storeName(r.raw))
	loadErr := r.scratch.Restore(ctx, pr, opts)
	if loadErr != nil {
		cancel() // stops the dump tool
		pr.CloseWithError(loadErr)
	}
	dumpErr := <-dumped
	switch {
	case dumpErr != nil && !errors.Is(dumpErr, context.Canceled) && !errors.Is(dumpErr, io.ErrClosedPipe):
		return fmt.Errorf("dumping the live database: %w", dumpErr)
	case loadErr != nil:
		return fmt.Errorf("sanitising on the scratch server: %w", loadErr)
	}
	return dumpErr
}

// waitForScratch waits until the scratch server accepts connections: a
// sidecar starts beside the runner and initialises its data first.
func (r *Runner) waitForScratch(ctx context.Context) error {
	addr := net.JoinHostPort(r.cfg.Scratch.Host, strconv.Itoa(r.cfg.Scratch.Port))
	deadline := time.Now().Add(r.cfg.ScratchWait)
	logged := false
	for {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the scratch server at %s did not accept connections within %s (ENVSYNC_SCRATCH_WAIT): %w", addr, r.cfg.ScratchWait, err)
		}
		if !logged {
			r.log.Info("waiting for the scratch server", "scratch", addr)
			logged = true
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// openScratch makes the engine of a publish's scratch server: the live
// engine's settings with the scratch's address and the credentials written
// when the pod started. The scratch is in the pod, on loopback: no TLS,
// and its own user owns what is restored there.
func openScratch(cfg Config, factory EngineFactory, log *slog.Logger) (engine.Engine, Config, error) {
	b, err := os.ReadFile(cfg.ScratchPasswordFile)
	if err != nil {
		return nil, cfg, fmt.Errorf("SCRATCH_PASSWORD_FILE: %w", err)
	}
	cfg.Scratch.Password = strings.TrimRight(string(b), "\r\n")
	sc := cfg.DB
	sc.Host, sc.Port, sc.User, sc.Password = cfg.Scratch.Host, cfg.Scratch.Port, cfg.Scratch.User, cfg.Scratch.Password
	sc.Owner = cfg.Scratch.User
	sc.TLS = engine.TLS{Mode: engine.TLSDisable}
	sc.Log = log
	eng, err := factory(sc)
	if err != nil {
		return nil, cfg, fmt.Errorf("the scratch server: %w", err)
	}
	return eng, cfg, nil
}
