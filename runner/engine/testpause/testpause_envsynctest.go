//go:build envsynctest

package testpause

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// At stops at the point named by ENVSYNC_TEST_PAUSE=<point>:<dir>: it
// creates <dir>/<point>, for the test to see, and waits until the process
// is killed or the test removes the file (after sending a signal, to see
// what the run does at its next step).
// The engines' points: check (part-way through reading the dump to check
// it), restore (part-way through loading the shadow), sanitise (script run,
// not committed), swap (shadow complete, nothing renamed).
func At(point string) {
	want, dir, ok := strings.Cut(os.Getenv("ENVSYNC_TEST_PAUSE"), ":")
	if !ok || want != point {
		return
	}
	file := filepath.Join(dir, point)
	os.WriteFile(file, nil, 0o644)
	for {
		if _, err := os.Stat(file); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pauseAfter is how far into the stream Reader stops.
const pauseAfter = 1 << 20

// Reader stops at point once pauseAfter bytes (or the whole stream) went
// through.
func Reader(r io.Reader, point string) io.Reader { return &reader{r: r, point: point} }

type reader struct {
	r     io.Reader
	point string
	n     int64
	done  bool
}

func (p *reader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if !p.done && (p.n >= pauseAfter || err == io.EOF) {
		p.done = true
		At(p.point)
	}
	return n, err
}
