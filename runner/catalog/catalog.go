// Package catalog answers the runbook's first questions about a bucket:
// which dumps of an instance exist, newest first, how large, whether their
// checksum holds, and which one the pointer (what a restore reads by
// default) names.
package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/storage"
)

// Checksum states of a dump.
const (
	NoSidecar = "none"     // no .sha256 beside it (the old scripts wrote none)
	Recorded  = "recorded" // a sidecar, not checked (no --verify)
	Verified  = "verified" // downloaded, and its SHA-256 matches the sidecar
	Mismatch  = "MISMATCH" // downloaded, and its SHA-256 does not match
)

// Entry is one dump.
type Entry struct {
	layout.Dump
	Size     int64
	Checksum string
	Latest   bool // the pointer names it
	// Held: newer than the dump the pointer names, with its sidecar (so
	// complete), yet not named: a dump that shrank too much, held back
	// until an operator accepts it, or a backup whose last step failed.
	Held bool
	// Pinned: an operator pinned it (Pin); retention leaves it.
	Pinned bool
	// Rows are its rows per table as the backup counted them (read with
	// verify only; nil when none were recorded).
	Rows map[string]int64
}

// List returns the dumps under instance/ (of database only, when given),
// newest first. With verify it downloads each dump that has a sidecar and
// checks its SHA-256.
func List(ctx context.Context, st storage.Store, instance, database string, verify bool) ([]Entry, error) {
	objs, err := st.ListObjects(ctx, instance+"/")
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{} // the listing says which dumps have a sidecar
	for _, o := range objs {
		listed[o.Key] = true
	}
	latest := map[string]string{} // database -> key the pointer names
	var out []Entry
	for _, o := range objs {
		k := o.Key
		d, err := layout.Parse(k)
		if err != nil || (database != "" && d.Database != database) {
			continue
		}
		if _, seen := latest[d.Database]; !seen {
			latest[d.Database], err = layout.ReadPointer(ctx, st, instance, d.Database)
			if err != nil {
				return nil, err
			}
		}
		e := Entry{Dump: d, Size: o.Size, Latest: latest[d.Database] == k, Pinned: listed[layout.PinKey(k)]}
		switch {
		case !listed[layout.ChecksumKey(k)]:
			e.Checksum = NoSidecar
		case !verify:
			e.Checksum = Recorded
		default:
			if e.Checksum, err = verifySum(ctx, st, k); err != nil {
				return nil, err
			}
		}
		if verify && listed[layout.RowsKey(k)] {
			if e.Rows, err = layout.RecordedRows(ctx, st, k); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	pointed := map[string]layout.Dump{}
	for _, e := range out {
		if e.Latest {
			pointed[e.Database] = e.Dump
		}
	}
	for i := range out {
		p, ok := pointed[out[i].Database]
		out[i].Held = ok && !out[i].Latest && out[i].Time.After(p.Time) && out[i].Checksum != NoSidecar
	}
	return out, nil
}

// verifySum downloads the dump at key and compares its SHA-256 with its
// sidecar's.
func verifySum(ctx context.Context, st storage.Store, key string) (string, error) {
	recorded, err := layout.RecordedSum(ctx, st, key)
	if err != nil {
		return "", err
	}
	if recorded == "" {
		return NoSidecar, nil
	}
	rc, err := st.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("reading %s: %w", key, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != recorded {
		return Mismatch, nil
	}
	return Verified, nil
}

// Retention is what a backup keeps of a database's dumps: the newest Keep,
// and every one younger than Days days (either keeps a dump; 0: that rule
// is off). Whatever the rules, the dump the pointer names, a held one
// (newer than it) and a pinned one stay, and so do the newest two, so that
// a restore reading the previous dump while a backup moves the pointer
// still finds it.
type Retention struct {
	Keep, Days int
	Now        time.Time // when Days are counted back from
}

// Check refuses a retention that keeps too little.
func (r Retention) Check() error {
	switch {
	case r.Keep == 0 && r.Days == 0:
		return fmt.Errorf("a retention keeps either the newest N dumps or those younger than D days")
	case r.Keep == 1 || r.Keep < 0:
		return fmt.Errorf("keeping %d dumps: keep at least 2, so that a restore reading the previous one while a backup moves the pointer still finds it", r.Keep)
	case r.Days < 0:
		return fmt.Errorf("keeping dumps for %d days: want at least 1", r.Days)
	}
	return nil
}

func (r Retention) String() string {
	var parts []string
	if r.Keep > 0 {
		parts = append(parts, fmt.Sprintf("the newest %d", r.Keep))
	}
	if r.Days > 0 {
		parts = append(parts, fmt.Sprintf("those younger than %d days", r.Days))
	}
	return strings.Join(parts, " and ") + ", the latest, any held and any pinned"
}

// Prune deletes the dumps of database (and their sidecars) that r does not
// keep, and returns their keys oldest first; dryRun deletes nothing.
func Prune(ctx context.Context, st storage.Store, instance, database string, r Retention, dryRun bool) ([]string, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	entries, err := List(ctx, st, instance, database, false)
	if err != nil {
		return nil, err
	}
	newest := max(r.Keep, 2)
	cutoff := r.Now.AddDate(0, 0, -r.Days)
	var gone []string
	for i, e := range entries { // newest first
		young := r.Days > 0 && e.Time.After(cutoff)
		if e.Latest || e.Held || e.Pinned || i < newest || young {
			continue
		}
		gone = append(gone, e.Key)
	}
	slices.Reverse(gone)
	if dryRun {
		return gone, nil
	}
	for _, k := range gone {
		for _, side := range []string{layout.ChecksumKey(k), layout.RowsKey(k)} {
			if err := st.Delete(ctx, side); err != nil {
				return nil, err
			}
		}
		if err := st.Delete(ctx, k); err != nil {
			return nil, err
		}
	}
	return gone, nil
}

// Pin keeps the dump at key from retention, recording why; Unpin lets it
// go again.
func Pin(ctx context.Context, st storage.Store, key, reason string) error {
	if _, err := layout.Parse(key); err != nil {
		return err
	}
	rc, err := st.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("pinning %s: %w", key, err)
	}
	rc.Close()
	_, err = st.Put(ctx, layout.PinKey(key), strings.NewReader(reason+"\n"))
	return err
}

// Unpin removes the pin of the dump at key.
func Unpin(ctx context.Context, st storage.Store, key string) error {
	return st.Delete(ctx, layout.PinKey(key))
}
