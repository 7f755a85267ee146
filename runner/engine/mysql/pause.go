//go:build !envsynctest

package mysql

// pause is where a test build (-tags envsynctest) stops a restore at a named
// point so that a test can kill it there; in a real build it does nothing.
func pause(point string) {}
