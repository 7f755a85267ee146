package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
)

// Session is the lifecycle a program (the demo) gives the harness instead
// of a test's: it keeps cleanups and runs them in reverse order, makes
// temporary directories, logs to standard error, and a fatal error ends
// the session's goroutine as testing's FailNow does (runtime.Goexit), so
// every cleanup still runs and the program decides how to exit. Use it
// through RunSession.
type Session struct {
	ctx      context.Context
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

var _ T = (*Session)(nil)

// RunSession runs fn with a fresh session, then its cleanups (servers stop,
// temporary directories go), and returns an error when fn failed. When ctx
// ends first (an interrupt), the cleanups run at once and ctx's error is
// returned. As with a test, Fatal must be called from fn's own goroutine.
func RunSession(ctx context.Context, fn func(*Session)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &Session{ctx: ctx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(s)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.close()
		return ctx.Err()
	}
	cancel()
	s.close()
	if s.Failed() {
		return errors.New("stopped after the error above")
	}
	return nil
}

func (s *Session) close() {
	s.mu.Lock()
	cs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

func (s *Session) Cleanup(f func())         { s.mu.Lock(); s.cleanups = append(s.cleanups, f); s.mu.Unlock() }
func (s *Session) Helper()                  {}
func (s *Session) Context() context.Context { return s.ctx }
func (s *Session) Failed() bool             { s.mu.Lock(); defer s.mu.Unlock(); return s.failed }
func (s *Session) Logf(f string, a ...any)  { fmt.Fprintf(os.Stderr, f+"\n", a...) }

func (s *Session) Errorf(f string, a ...any) {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
	s.Logf(f, a...)
}

func (s *Session) Fatal(args ...any)         { s.Errorf("%s", fmt.Sprint(args...)); runtime.Goexit() }
func (s *Session) Fatalf(f string, a ...any) { s.Errorf(f, a...); runtime.Goexit() }

// TempDir is a new temporary directory, removed when the session ends.
func (s *Session) TempDir() string {
	dir, err := os.MkdirTemp("", "envsync-session-")
	if err != nil {
		s.Fatalf("testenv: %v", err)
	}
	s.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
