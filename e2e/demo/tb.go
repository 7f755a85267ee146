package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
)

// session lets the demo use the test harness (package testenv starts its
// servers for a testing.TB): it keeps the cleanups, in reverse order like a
// test, and ends the program on a fatal error after running them.
type session struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	ctx      context.Context
	cancel   context.CancelFunc
	// The interface's unexported method is satisfied by embedding; every
	// method the harness can call is implemented below.
	testing.TB
}

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
func (s *session) Name() string     { return "demo" }
func (s *session) Failed() bool     { return s.failed }
func (s *session) Skipped() bool    { return false }
func (s *session) Context() context.Context {
	return s.ctx
}
func (s *session) Output() io.Writer         { return os.Stderr }
func (s *session) ArtifactDir() string       { return s.TempDir() }
func (s *session) Attr(key, value string)    {}
func (s *session) Log(args ...any)           { fmt.Fprintln(os.Stderr, args...) }
func (s *session) Logf(f string, a ...any)   { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (s *session) Error(args ...any)         { s.failed = true; s.Log(args...) }
func (s *session) Errorf(f string, a ...any) { s.failed = true; s.Logf(f, a...) }
func (s *session) Fail()                     { s.failed = true }
func (s *session) FailNow() {
	s.failed = true
	s.close()
	fmt.Fprintln(os.Stderr, "demo: stopped everything after the error above")
	os.Exit(1)
}
func (s *session) Fatal(args ...any)         { s.Log(args...); s.FailNow() }
func (s *session) Fatalf(f string, a ...any) { s.Logf(f, a...); s.FailNow() }
func (s *session) Skip(args ...any)          { s.Fatal(args...) }
func (s *session) SkipNow()                  { s.FailNow() }
func (s *session) Skipf(f string, a ...any)  { s.Fatalf(f, a...) }
func (s *session) Setenv(key, value string) {
	old, had := os.LookupEnv(key)
	os.Setenv(key, value)
	s.Cleanup(func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	})
}
func (s *session) Chdir(dir string) {
	old, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		s.Fatal(err)
	}
	s.Cleanup(func() { os.Chdir(old) })
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
