package catalog_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/catalog"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/storage"
)

// Pruning keeps the newest dumps, the one the pointer names and a held
// one, whatever their age, and removes the rest with their sidecars; a dry
// run removes nothing.
func TestPruneKeepsTheNewestThePointersAndTheHeld(t *testing.T) {
	ctx := context.Background()
	st, err := storage.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(k string) {
		if _, err := st.Put(ctx, k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for _, day := range []string{"01", "02", "03", "04", "05"} {
		k := "i/2026-03-" + day + "T010000Z-db.pgdump.zst"
		keys = append(keys, k)
		put(k)
		put(layout.ChecksumKey(k))
	}
	put("i/2026-03-05T010000Z-other.pgdump.zst")
	// The pointer names the 3rd: the 4th and 5th are newer and held.
	if _, err := st.Put(ctx, layout.PointerKey("i", "db"), strings.NewReader(keys[2])); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.Prune(ctx, st, "i", "db", catalog.Retention{Keep: 1}, false); err == nil {
		t.Error("keeping one dump was accepted")
	}
	gone, err := catalog.Prune(ctx, st, "i", "db", catalog.Retention{Keep: 2}, true)
	if err != nil || !slices.Equal(gone, keys[:2]) {
		t.Fatalf("dry run: %v, %v; want %v", gone, err, keys[:2])
	}
	if left, _ := st.List(ctx, "i/"); len(left) != 12 {
		t.Fatalf("the dry run removed something: %v", left)
	}
	if gone, err = catalog.Prune(ctx, st, "i", "db", catalog.Retention{Keep: 2}, false); err != nil || !slices.Equal(gone, keys[:2]) {
		t.Fatalf("prune: %v, %v", gone, err)
	}
	left, _ := st.List(ctx, "i/")
	for _, k := range keys[:2] {
		if slices.Contains(left, k) || slices.Contains(left, layout.ChecksumKey(k)) {
			t.Errorf("%s or its sidecar is still there", k)
		}
	}
	for _, k := range append(keys[2:], "i/2026-03-05T010000Z-other.pgdump.zst") {
		if !slices.Contains(left, k) {
			t.Errorf("%s was removed", k)
		}
	}
}

// Keeping by age keeps every dump younger than the days given, and the
// newest two and the pointer's whatever their age; a pinned dump stays
// under any rule, until it is unpinned.
func TestPruneByAgeAndPins(t *testing.T) {
	ctx := context.Background()
	st, err := storage.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(k, body string) {
		if _, err := st.Put(ctx, k, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	var keys []string // oldest first: 19, 16, 13, 10, 7, 4 and 1 days old
	for _, ago := range []int{19, 16, 13, 10, 7, 4, 1} {
		k := "i/" + now.AddDate(0, 0, -ago).Format(layout.TimeFormat) + "-db.pgdump.zst"
		keys = append(keys, k)
		put(k, "x")
		put(layout.ChecksumKey(k), "x")
	}
	put(layout.PointerKey("i", "db"), keys[6])
	if err := catalog.Pin(ctx, st, keys[0], "the dump before the migration of 2026-03-01"); err != nil {
		t.Fatal(err)
	}
	if err := catalog.Pin(ctx, st, "i/2026-01-01T000000Z-db.pgdump.zst", "missing"); err == nil {
		t.Error("a dump that does not exist was pinned")
	}
	if _, err := catalog.Prune(ctx, st, "i", "db", catalog.Retention{Days: -1, Now: now}, true); err == nil {
		t.Error("a negative number of days was accepted")
	}
	gone, err := catalog.Prune(ctx, st, "i", "db", catalog.Retention{Days: 8, Now: now}, false)
	if want := keys[1:4]; err != nil || !slices.Equal(gone, want) {
		t.Fatalf("keeping 8 days: removed %v (%v), want %v: older than 8 days and not pinned", gone, err, want)
	}
	entries, _ := catalog.List(ctx, st, "i", "db", false)
	if len(entries) != 4 || !entries[3].Pinned || entries[0].Pinned {
		t.Fatalf("left: %+v, want the pinned one and the three younger than 8 days", entries)
	}
	// Both rules: a dump stays when either keeps it.
	if gone, _ := catalog.Prune(ctx, st, "i", "db", catalog.Retention{Keep: 2, Days: 5, Now: now}, true); len(gone) != 1 || gone[0] != keys[4] {
		t.Errorf("newest 2 or younger than 5 days: would remove %v, want only %s", gone, keys[4])
	}
	if err := catalog.Unpin(ctx, st, keys[0]); err != nil {
		t.Fatal(err)
	}
	if gone, _ := catalog.Prune(ctx, st, "i", "db", catalog.Retention{Days: 8, Now: now}, false); len(gone) != 1 || gone[0] != keys[0] {
		t.Errorf("after unpinning: removed %v, want %s", gone, keys[0])
	}
}
