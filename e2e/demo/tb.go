package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/envsync/envsync/testenv"
)

// session lets the demo use the test harness, which starts its servers for a
// testenv.T: it keeps the cleanups, runs them in reverse order like a test,
// and ends the program on a fatal error after running them.
type session struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	ctx      context.Context
	cancel   context.CancelFunc
}

var _ testenv.T = (*session)(nil)

func newSession() *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{ctx: ctx, cancel: cancel}
}

// close runs the cleanups: servers stop, temporary directories go.
func (s *session) close() {
	s.cancel()
	s.mu.Lock()
	cs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

func (s *session) Cleanup(f func()) { s.mu.Lock(); s.cleanups = append(s.cleanups, f); s.mu.Unlock() }
func (s *session) Helper()          {}
func (s *session) Failed() bool     { return s.failed }
func (s *session) Context() context.Context {
	return s.ctx
}
func (s *session) Logf(f string, a ...any)   { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (s *session) Errorf(f string, a ...any) { s.failed = true; s.Logf(f, a...) }
func (s *session) Fatal(args ...any)         { fmt.Fprintln(os.Stderr, args...); s.stop() }
func (s *session) Fatalf(f string, a ...any) { s.Logf(f, a...); s.stop() }

// stop ends the demo after a fatal error, stopping every server first.
func (s *session) stop() {
	s.failed = true
	s.close()
	fmt.Fprintln(os.Stderr, "demo: stopped everything after the error above")
	os.Exit(1)
}

// TempDir is a fresh directory removed at the end.
func (s *session) TempDir() string {
	dir, err := os.MkdirTemp("", "envsync-demo-")
	if err != nil {
		s.Fatal(err)
	}
	s.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
