//go:build envsynctest

package postgres

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A test build stops at the point named by ENVSYNC_TEST_PAUSE=<point>:<dir>:
// it creates <dir>/<point> and sleeps until it is killed. Points: check
// (part-way through reading the dump to check it), restore (part-way through
// pg_restore into the shadow), sanitise (script run, not committed), swap
// (live refusing connections, renames not done).
func pause(point string) {
	spec := os.Getenv("ENVSYNC_TEST_PAUSE")
	want, dir, ok := strings.Cut(spec, ":")
	if !ok || want != point {
		return
	}
	os.WriteFile(filepath.Join(dir, point), nil, 0o644)
	select {}
}

// pauseAfter is how far into the stream pauseReader stops.
const pauseAfter = 1 << 20

type pauseReader struct {
	r     io.Reader
	point string
	n     int64
	done  bool
}

func (p *pauseReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if !p.done && (p.n >= pauseAfter || err == io.EOF) {
		p.done = true
		pause(p.point)
	}
	return n, err
}
