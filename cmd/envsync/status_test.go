package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/metrics"
	"github.com/envsync/envsync/testenv"
)

func TestStatusShowsEachOperationsStateLastSuccessDataAgeAndFiringAlerts(t *testing.T) {
	pgw := testenv.StartPushgateway(t)
	rule := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rule, []byte(`groups:
- name: envsync-failed
  rules:
  - alert: DatabaseOperationFailed
    expr: db_backup_job_state == 0
`), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{Pushgateway: strings.TrimPrefix(pgw.URL, "http://"), RuleFiles: []string{rule}, Interval: 500 * time.Millisecond})

	ctx := context.Background()
	p := &metrics.Pusher{URL: pgw.URL}
	now := time.Now()
	l := func(op string) metrics.Labels {
		return metrics.Labels{Engine: "postgres", Instance: "chat-postgres", Database: "govuk_chat_production", Operation: op, Pod: "chat-postgres-1"}
	}
	p.Finished(ctx, l("restore"), now.Add(-2*time.Hour), now.Add(-90*time.Minute), metrics.Result{Size: 10, DumpTime: now.Add(-72 * time.Hour)})
	p.Finished(ctx, l("backup"), now.Add(-80*time.Minute), now.Add(-70*time.Minute), metrics.Result{Size: 10})
	p.Finished(ctx, l("transform"), now.Add(-2*time.Hour), now.Add(-2*time.Hour), metrics.Result{Err: errors.New("script failed")})

	var out string
	prom.Eventually(t, 30*time.Second, "the failed transform's alert firing", func(ctx context.Context) error {
		var err error
		out, _, err = envsync(t, "status", "--prometheus", prom.URL)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "DatabaseOperationFailed") {
			return errors.New("not firing yet")
		}
		return nil
	})
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 2 {
			lines[f[2]] = l
		}
	}
	for op, want := range map[string][]string{
		"backup":    {"succeeded", "1.2h ago", " - "},
		"restore":   {"succeeded", "1.5h ago", "3.0d ago"},
		"transform": {"failed", "never", "DatabaseOperationFailed"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[op]+" ", w) {
				t.Errorf("%s: %q lacks %q\n%s", op, lines[op], w, out)
			}
		}
	}
	if strings.Contains(lines["backup"], "DatabaseOperationFailed") {
		t.Errorf("the transform's alert is shown on the backup:\n%s", out)
	}

	// With the environment named, every operation its jobs declare has a
	// row: the ones that never reported say so, and what reported without
	// being declared here says that.
	out, _, err := envsync(t, "status", "--prometheus", prom.URL, "--environment", "staging", "--root", testEstate(t))
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")[1:]
	if len(rows) != 11 {
		t.Errorf("%d rows for staging, want one per declared operation (10) and the undeclared transform:\n%s", len(rows), out)
	}
	find := func(parts ...string) string {
		for _, r := range rows {
			if strings.Contains(r, parts[0]) && strings.Contains(r, parts[1]) {
				return r
			}
		}
		return ""
	}
	for _, c := range [][3]string{
		{"whitehall-mysql ", " backup ", "never reported"},
		{"chat-postgres ", " backup ", "succeeded"},
		{"chat-postgres ", " transform ", "failed (undeclared)"},
	} {
		if r := find(c[0], c[1]); !strings.Contains(r, c[2]) {
			t.Errorf("%s%s: %q, want %q\n%s", c[0], c[1], r, c[2], out)
		}
	}
}
