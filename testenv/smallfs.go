package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
)

// SmallTmpfs mounts a tmpfs of size (mount's notation: "64k") on a new
// directory, unmounted when the test ends: a /tmp that fills up. It needs
// root, which the test machines and CI have.
func SmallTmpfs(t T, size string) string {
	t.Helper()
	dir := t.TempDir()
	mount(t, dir, "-t", "tmpfs", "-o", "size="+size+",mode=1777", "tmpfs", dir)
	return dir
}

// LoopExt4 mounts an ext4 filesystem of size (truncate's notation: "1200M")
// made in a sparse file, on a new directory: a filesystem on disk, as an
// emptyDir on a node's disk is, that a test can fill (no blocks reserved
// for root, so that a test running as root fills it too).
func LoopExt4(t T, size string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	for _, args := range [][]string{{"truncate", "-s", size, img}, {"mkfs.ext4", "-q", "-F", "-m", "0", img}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("testenv: %v: %v\n%s (mkfs.ext4 is in Debian's e2fsprogs)", args, err, out)
		}
	}
	dir := t.TempDir()
	mount(t, dir, "-o", "loop", img, dir)
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mount(t T, dir string, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: mount %v: %v\n%s (the test needs root, to mount a small filesystem)", args, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}
