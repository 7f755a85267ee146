//go:build !envsynctest

// Package testpause holds the engines' named stop points. A test build
// (-tags envsynctest) stops a restore at the point named by
// ENVSYNC_TEST_PAUSE=<point>:<dir> so that a test can kill it exactly there;
// in a real build every function here does nothing.
package testpause

import "io"

// At stops a test build at point; it returns at once in a real build.
func At(point string) {}

// Reader is r; a test build stops part-way through the stream at point.
func Reader(r io.Reader, point string) io.Reader { return r }
