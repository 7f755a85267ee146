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
