package catalog_test

import (
	"context"
	"slices"
	"strings"
	"testing"

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
	if _, err := catalog.Prune(ctx, st, "i", "db", 1, false); err == nil {
		t.Error("keeping one dump was accepted")
	}
	gone, err := catalog.Prune(ctx, st, "i", "db", 2, true)
	if err != nil || !slices.Equal(gone, keys[:2]) {
		t.Fatalf("dry run: %v, %v; want %v", gone, err, keys[:2])
	}
	if left, _ := st.List(ctx, "i/"); len(left) != 12 {
		t.Fatalf("the dry run removed something: %v", left)
	}
	if gone, err = catalog.Prune(ctx, st, "i", "db", 2, false); err != nil || !slices.Equal(gone, keys[:2]) {
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
