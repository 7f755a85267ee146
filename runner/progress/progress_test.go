package progress_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/progress"
)

func TestALongTransferLogsBytesAndRateAsItGoesAndAtTheEnd(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	m := progress.Start(log, "upload", 20*time.Millisecond)
	r := m.Reader(strings.NewReader(strings.Repeat("x", 1000)))
	buf := make([]byte, 100)
	for i := 0; i < 10; i++ {
		io.ReadFull(r, buf)
		time.Sleep(10 * time.Millisecond)
	}
	m.Done()
	m.Done() // idempotent
	var progress, done int
	var last map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		switch rec["msg"] {
		case "progress":
			progress++
		case "transfer done":
			done++
			last = rec
		}
	}
	if progress == 0 || done != 1 {
		t.Fatalf("%d progress lines and %d final lines, want some and one:\n%s", progress, done, logs.String())
	}
	if last["bytes"] != float64(1000) || last["transfer"] != "upload" || last["mb_per_s"] == nil {
		t.Fatalf("final line %v, want 1000 bytes of upload with a rate", last)
	}
}

// With the total known, a line says how far along the transfer is and how
// long it has left; the last says 100.
func TestAKnownTotalGivesPercentAndTimeLeft(t *testing.T) {
	var logs bytes.Buffer
	m := progress.Start(slog.New(slog.NewJSONHandler(&logs, nil)), "restore download", 20*time.Millisecond)
	m.SetTotal(1000)
	r := m.Reader(strings.NewReader(strings.Repeat("x", 1000)))
	buf := make([]byte, 100)
	for range 10 {
		io.ReadFull(r, buf)
		time.Sleep(10 * time.Millisecond)
	}
	m.Done()
	var midway, final map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		json.Unmarshal([]byte(l), &rec)
		if rec["msg"] == "progress" && midway == nil && rec["eta_seconds"] != nil {
			midway = rec
		}
		if rec["msg"] == "transfer done" {
			final = rec
		}
	}
	if midway == nil || midway["percent"].(float64) <= 0 || midway["percent"].(float64) >= 100 {
		t.Errorf("no progress line with a percentage and a time left:\n%s", logs.String())
	}
	if final["percent"] != float64(100) {
		t.Errorf("the last line %v, want 100 percent", final)
	}
}
