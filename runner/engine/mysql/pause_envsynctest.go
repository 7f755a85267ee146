//go:build envsynctest

package mysql

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A test build stops at the point named by ENVSYNC_TEST_PAUSE=<point>:<dir>
// (the convention of the PostgreSQL engine): it creates <dir>/<point> and
// sleeps until it is killed. Points: restore (the first rows are being
// loaded into the shadow), sanitise (script sent, not committed), swap
// (shadow complete, nothing renamed).
func pause(point string) {
	spec := os.Getenv("ENVSYNC_TEST_PAUSE")
	want, dir, ok := strings.Cut(spec, ":")
	if !ok || want != point {
		return
	}
	os.WriteFile(filepath.Join(dir, point), nil, 0o644)
	for {
		time.Sleep(time.Hour)
	}
}
