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
// creates <dir>/<point>, for the test to see, and sleeps until it is killed.
// The engines' points: check (part-way through reading the dump to check
// it), restore (part-way through loading the shadow), sanitise (script run,
// not committed), swap (shadow complete, nothing renamed).
func At(point string) {
	want, dir, ok := strings.Cut(os.Getenv("ENVSYNC_TEST_PAUSE"), ":")
	if !ok || want != point {
		return
	}
	os.WriteFile(filepath.Join(dir, point), nil, 0o644)
	for {
		time.Sleep(time.Hour)
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
