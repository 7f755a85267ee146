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
		e := Entry{Dump: d, Size: o.Size, Latest: latest[d.Database] == k}
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

// Prune deletes the dumps of database (and their sidecars) beyond the
// newest keep, never the one the pointer names nor a held one (newer than
// it), and returns their keys oldest first; dryRun deletes nothing. keep
// is at least 2, so that a restore reading the previous dump while a
// backup moves the pointer still finds it.
func Prune(ctx context.Context, st storage.Store, instance, database string, keep int, dryRun bool) ([]string, error) {
	if keep < 2 {
		return nil, fmt.Errorf("keeping %d dumps: keep at least 2, so that a restore reading the previous one while a backup moves the pointer still finds it", keep)
	}
	entries, err := List(ctx, st, instance, database, false)
	if err != nil {
		return nil, err
	}
	var gone []string
	kept := 0
	for _, e := range entries { // newest first
		if e.Latest || e.Held || kept < keep {
			kept++
			continue
		}
		gone = append(gone, e.Key)
	}
	slices.Reverse(gone)
	if dryRun {
		return gone, nil
	}
	for _, k := range gone {
		if err := st.Delete(ctx, layout.ChecksumKey(k)); err != nil {
			return nil, err
		}
		if err := st.Delete(ctx, k); err != nil {
			return nil, err
		}
	}
	return gone, nil
}
