package gen_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/envsync/envsync/gen"
)

// tree lists every file under dir with its content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	sort.Strings(names)
	return names
}

func TestWriteReplacesOutSoThatFilesOfRemovedSyncsDisappear(t *testing.T) {
	root := t.TempDir()
	first := []gen.File{
		{Path: "out/staging/manifests/cronjob-a.yaml", Data: []byte("a\n")},
		{Path: "out/staging/manifests/cronjob-b.yaml", Data: []byte("b\n")},
	}
	if err := gen.Write(root, first); err != nil {
		t.Fatal(err)
	}
	second := []gen.File{{Path: "out/staging/manifests/cronjob-a.yaml", Data: []byte("a2\n")}}
	if err := gen.Write(root, second); err != nil {
		t.Fatal(err)
	}
	got := tree(t, filepath.Join(root, "out"))
	if len(got) != 1 || got["staging/manifests/cronjob-a.yaml"] != "a2\n" {
		t.Fatalf("out/ after the second write: %v", got)
	}
	if names := entries(t, root); len(names) != 1 || names[0] != "out" {
		t.Fatalf("temporary directories left beside out/: %v", names)
	}
	fi, err := os.Stat(filepath.Join(root, "out"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("out/ mode: %v %v", fi.Mode(), err)
	}
}

func TestAWriteThatFailsHalfWayLeavesTheOldOutIntact(t *testing.T) {
	root := t.TempDir()
	old := []gen.File{{Path: "out/production/values.yaml", Data: []byte("old\n")}}
	if err := gen.Write(root, old); err != nil {
		t.Fatal(err)
	}
	for name, files := range map[string][]gen.File{
		"a path outside out/": {
			{Path: "out/production/values.yaml", Data: []byte("new\n")},
			{Path: "out/../escape.yaml", Data: []byte("x\n")},
		},
		"a file where a directory must go": {
			{Path: "out/production/values.yaml", Data: []byte("new\n")},
			{Path: "out/production/values.yaml/nested.yaml", Data: []byte("x\n")},
		},
		"the same path twice": {
			{Path: "out/production/values.yaml", Data: []byte("new\n")},
			{Path: "out/production/values.yaml", Data: []byte("again\n")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			if err := gen.Write(root, files); err == nil {
				t.Fatal("want an error")
			}
			got := tree(t, filepath.Join(root, "out"))
			if len(got) != 1 || got["production/values.yaml"] != "old\n" {
				t.Fatalf("out/ changed: %v", got)
			}
			if names := entries(t, root); strings.Join(names, ",") != "out" {
				t.Fatalf("left behind: %v", names)
			}
		})
	}
}
