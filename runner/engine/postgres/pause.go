//go:build !envsynctest

package postgres

import "io"

// pause is where a test build (-tags envsynctest) stops a restore at a named
// point so that a test can kill it there; in a real build it does nothing.
func pause(point string) {}

// pauseReader is r; a test build pauses it part-way through the stream.
type pauseReader struct {
	r     io.Reader
	point string
}

func (p *pauseReader) Read(b []byte) (int, error) { return p.r.Read(b) }
