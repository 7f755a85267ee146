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
	repo, err := declare.FindRoot(".")
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	for _, top := range []string{"cue.mod", "schema", "syncs"} {
		err := filepath.WalkDir(filepath.Join(repo, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(repo, p)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dir, rel), 0o755)
			}
			if !withSyncs && filepath.Dir(rel) == "syncs" && rel != filepath.Join("syncs", "estate.cue") {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return dir
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
