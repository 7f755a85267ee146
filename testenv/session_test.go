package testenv

import (
	"context"
	"os"
	"reflect"
	"testing"
)

func TestASessionsFatalStopsItsFunctionAndRunsEveryCleanupInReverse(t *testing.T) {
	var ran []string
	var dir string
	after := false
	err := RunSession(context.Background(), func(s *Session) {
		dir = s.TempDir()
		s.Cleanup(func() { ran = append(ran, "first") })
		s.Cleanup(func() { ran = append(ran, "second") })
		s.Fatalf("a server did not start")
		after = true
	})
	if err == nil {
		t.Fatal("a session that called Fatalf returned no error")
	}
	if after {
		t.Error("the function went on after Fatalf")
	}
	if want := []string{"second", "first"}; !reflect.DeepEqual(ran, want) {
		t.Errorf("cleanups ran %v, want %v", ran, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the session's temporary directory is still there: %v", err)
	}
}

func TestASessionThatEndsWellReturnsNoErrorAndCleansUp(t *testing.T) {
	cleaned := false
	err := RunSession(context.Background(), func(s *Session) { s.Cleanup(func() { cleaned = true }) })
	if err != nil || !cleaned {
		t.Errorf("err %v, cleaned %v; want nil, true", err, cleaned)
	}
}

func TestAnInterruptedSessionCleansUpWithoutWaitingForItsFunction(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cleaned := make(chan struct{})
	err := RunSession(ctx, func(s *Session) {
		s.Cleanup(func() { close(cleaned) })
		cancel()
		select {} // blocked, as the demo is while it waits for Enter
	})
	if err != context.Canceled {
		t.Errorf("err %v, want context.Canceled", err)
	}
	select {
	case <-cleaned:
	default:
		t.Error("the cleanup did not run")
	}
}
