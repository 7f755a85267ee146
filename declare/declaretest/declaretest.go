// Package declaretest copies the repository's estate into a temporary
// directory, so that tests and benchmarks can run envsync gen and write an
// out/ of their own without touching the repository's.
package declaretest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/model"
)

// CopyEstate copies cue.mod, schema and syncs of the repository into a
// temporary directory and returns it. Without withSyncs it keeps only
// syncs/estate.cue and the sanitise scripts: an estate with no syncs, for a
// test to add its own.
func CopyEstate(tb testing.TB, withSyncs bool) string {
	tb.Helper()
	return copyEstate(tb, filepath.Join(repoRoot(tb), "syncs"), func(rel string) bool {
		return withSyncs || filepath.Dir(rel) != "." || rel == "estate.cue"
	})
}

// CopyEstateFrom makes an estate of the repository's cue.mod and schema
// and the syncs directory given (a test's own, under its testdata/), in a
// temporary directory, and returns it: a test that counts what an estate
// holds then stays true when the example estate is edited.
func CopyEstateFrom(tb testing.TB, syncs string) string {
	tb.Helper()
	return copyEstate(tb, syncs, nil)
}

// copyEstate copies the repository's cue.mod and schema, and the files of
// syncs that keep accepts, into a new temporary directory.
func copyEstate(tb testing.TB, syncs string, keep func(rel string) bool) string {
	tb.Helper()
	repo := repoRoot(tb)
	dir := tb.TempDir()
	copyTree(tb, filepath.Join(repo, "cue.mod"), filepath.Join(dir, "cue.mod"), nil)
	copyTree(tb, filepath.Join(repo, "schema"), filepath.Join(dir, "schema"), nil)
	copyTree(tb, syncs, filepath.Join(dir, "syncs"), keep)
	return dir
}

func repoRoot(tb testing.TB) string {
	tb.Helper()
	repo, err := declare.FindRoot(".")
	if err != nil {
		tb.Fatal(err)
	}
	return repo
}

// copyTree copies from into to, the files keep accepts (by path relative
// to from; nil keeps all).
func copyTree(tb testing.TB, from, to string, keep func(rel string) bool) {
	tb.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if keep != nil && !keep(rel) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// Example loads the repository's example estate, failing the test on any
// load error.
func Example(tb testing.TB) *model.Estate {
	tb.Helper()
	root, err := declare.FindRoot(".")
	if err != nil {
		tb.Fatal(err)
	}
	e, err := declare.Load(root)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}
