package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/envsync/envsync/runner/compress"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/metrics"
	"github.com/envsync/envsync/runner/progress"
	"github.com/envsync/envsync/runner/storage"
)

// ErrChecksum is wrapped by a restore refused because the dump's bytes do
// not match its recorded SHA-256.
var ErrChecksum = errors.New("checksum mismatch")

// restore chooses the dump, verifies it without touching any database, then
// streams it again into the engine's shadow-and-swap restore. The swap
// happens only if the second pass read the very bytes the first verified.
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

	// Pass 1: download, decompress, hash, let the engine read it whole. A
	// truncated, corrupt or foreign dump stops here.
	verified, size, err := r.verify(ctx, d.Key)
	if err != nil {
		return metrics.Result{}, err
	}
	if recorded != "" && verified != recorded {
		return metrics.Result{}, fmt.Errorf("%s: %w: the object's SHA-256 is %s, its sidecar %s says %s", d.Key, ErrChecksum, verified, layout.ChecksumKey(d.Key), recorded)
	}
	if recorded == "" {
		r.log.Warn("no checksum sidecar (a dump from the old scripts?): checking both passes read the same bytes only", "key", d.Key)
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
	rc, err := r.store.Get(ctx, layout.ChecksumKey(key))
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", layout.ChecksumKey(key), err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 || len(fields[0]) != 64 {
		return "", fmt.Errorf("%s does not hold a SHA-256: %q", layout.ChecksumKey(key), bytes.TrimSpace(b))
	}
	return strings.ToLower(fields[0]), nil
}

// verify reads the whole dump once, touching no database: it returns the
// object's SHA-256 and size if it decompresses and the engine accepts it.
func (r *Runner) verify(ctx context.Context, key string) (string, int64, error) {
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
	r.log.Info("verifying the dump before touching any database", "key", key, "format", string(format))
	if err := r.eng.Check(ctx, dec); err != nil {
		return "", 0, fmt.Errorf("refusing %s: not a complete, readable %s dump: %w", key, r.cfg.Engine, err)
	}
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return "", 0, fmt.Errorf("refusing %s: %s stream damaged: %w", key, format, err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), meter.Bytes(), nil
}
