package runner_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Whole-operation tests run the envsync binary as the CronJobs do: a test
// build (-tags envsynctest) that can stop at named points to be killed there.

var (
	envsyncOnce sync.Once
	envsyncPath string
	envsyncErr  error
)

// envsyncBinary builds the test build of envsync once per test binary,
// into a fixed temporary path that each run overwrites.
func envsyncBinary(t testing.TB) string {
	t.Helper()
	envsyncOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "envsync-runner-test")
		if envsyncErr = os.MkdirAll(dir, 0o755); envsyncErr != nil {
			return
		}
		envsyncPath = filepath.Join(dir, "envsync")
		out, err := exec.Command("go", "build", "-tags", "envsynctest", "-o", envsyncPath, "github.com/envsync/envsync/cmd/envsync").CombinedOutput()
		if err != nil {
			envsyncErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if envsyncErr != nil {
		t.Fatalf("building envsync: %v", envsyncErr)
	}
	return envsyncPath
}
