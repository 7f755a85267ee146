package gen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Write replaces root/out with exactly files: it writes them all into a
// temporary directory beside out/ and only then swaps it in, so that files
// of removed syncs disappear and a failure leaves the old out/ untouched.
func Write(root string, files []File) error {
	dst := filepath.Join(root, OutDir)
	// A run killed mid-write leaves its temporary directory: clear those.
	stale, _ := filepath.Glob(filepath.Join(root, ".out-new-*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	tmp, err := os.MkdirTemp(root, ".out-new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful swap it holds the old out/, or nothing
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, f := range files {
		rel, ok := strings.CutPrefix(filepath.ToSlash(filepath.Clean(f.Path)), OutDir+"/")
		if !ok || rel == "" || strings.HasPrefix(rel, "../") || filepath.IsAbs(f.Path) {
			return fmt.Errorf("write %s: generated files must lie under %s/", f.Path, OutDir)
		}
		if seen[rel] {
			return fmt.Errorf("write %s: generated twice", f.Path)
		}
		seen[rel] = true
		p := filepath.Join(tmp, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	return swap(tmp, dst)
}

// swap puts the directory new at dst, leaving what was at dst (if anything)
// at new, for the caller to remove.
func swap(newDir, dst string) error {
	if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
		return os.Rename(newDir, dst)
	}
	if err := exchange(newDir, dst); err == nil {
		return nil
	}
	// No atomic exchange here: move the old tree aside, then the new one in,
	// and put the old one back if that fails.
	old := newDir + ".old"
	if err := os.Rename(dst, old); err != nil {
		return err
	}
	if err := os.Rename(newDir, dst); err != nil {
		if rerr := os.Rename(old, dst); rerr != nil {
			return fmt.Errorf("%w (and restoring the old %s failed: %v)", err, dst, rerr)
		}
		return err
	}
	return os.Rename(old, newDir)
}

// Removed lists the files under root/out that Write(root, files) would
// remove, sorted: those of syncs that are gone, and anything added by hand.
func Removed(root string, files []File) ([]string, error) {
	keep := map[string]bool{}
	for _, f := range files {
		keep[filepath.ToSlash(filepath.Clean(f.Path))] = true
	}
	var removed []string
	err := filepath.WalkDir(filepath.Join(root, OutDir), func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); !keep[rel] {
			removed = append(removed, rel)
		}
		return nil
	})
	return removed, err // WalkDir visits in lexical order
}
