package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPrometheusLoadsRuleFilesAndReportsAFiringAlert(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	err := os.WriteFile(rules, []byte(`groups:
- name: test
  rules:
  - alert: AlwaysFiring
    expr: vector(1)
    labels: {sync: chat-postgres}
  - alert: NeverFiring
    expr: vector(1) == 2
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p := StartPrometheus(t, PrometheusOptions{Pushgateway: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), RuleFiles: []string{rules}})
	p.Eventually(t, 30*time.Second, "evaluating", func(ctx context.Context) error { return p.EvaluatedSince(ctx, start) })

	p.Eventually(t, 30*time.Second, "firing AlwaysFiring", func(ctx context.Context) error {
		firing, err := p.Firing(ctx)
		if err != nil {
			return err
		}
		if len(firing) != 1 || firing[0].Labels["alertname"] != "AlwaysFiring" || firing[0].Labels["sync"] != "chat-postgres" {
			return fmt.Errorf("firing alerts %v, want only AlwaysFiring{sync=chat-postgres}", firing)
		}
		return nil
	})
	v, err := p.Query(context.Background(), `vector(3)`)
	if err != nil || len(v) != 1 || v[0].Value != 3 {
		t.Fatalf("query vector(3) = %v, %v; want one sample of 3", v, err)
	}
	// The Pushgateway target is down here: ScrapedSince must say so rather
	// than pretend the scrape happened.
	if err := p.ScrapedSince(context.Background(), start); err == nil {
		t.Fatal("ScrapedSince succeeded with no Pushgateway listening")
	}
}
