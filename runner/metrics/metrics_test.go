package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/metrics"
	"github.com/envsync/envsync/testenv"
)

var labels = metrics.Labels{Engine: "postgres", Instance: "chat-postgres", Database: "chat_production", Operation: "backup", Pod: "chat-backup-2901-abcde"}

var sel = map[string]string{
	"job": "db-backup", "database_engine": "postgres", "database_instance": "chat-postgres",
	"database_db_name": "chat_production", "operation": "backup",
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func one(t *testing.T, g *testenv.Pushgateway, name string, match map[string]string) testenv.Series {
	t.Helper()
	s := g.Series(t, name, match)
	if len(s) != 1 {
		t.Fatalf("%s%v: %d series on the Pushgateway, want 1: %+v", name, match, len(s), s)
	}
	return s[0]
}

func TestARunLandsOnThePushgatewayWithTheDashboardsNamesAndLabels(t *testing.T) {
	g := testenv.StartPushgateway(t)
	p := &metrics.Pusher{URL: g.URL}
	ctx := context.Background()
	start := time.Unix(1_800_000_000, 0)
	end := start.Add(90 * time.Second)

	p.Started(ctx, labels, start)
	if s := one(t, g, "db_backup_job_state", sel); s.Value != metrics.Running || s.Labels["instance"] != labels.Pod {
		t.Fatalf("after Started: db_backup_job_state %+v, want 1 with instance=%s", s, labels.Pod)
	}
	p.Finished(ctx, labels, start, end, metrics.Result{Size: 123456})

	if s := one(t, g, "db_backup_job_state", sel); s.Value != metrics.Succeeded {
		t.Errorf("db_backup_job_state = %v, want 2", s.Value)
	}
	if s := one(t, g, "db_backup_job_file_size_bytes", sel); s.Value != 123456 {
		t.Errorf("db_backup_job_file_size_bytes = %v", s.Value)
	}
	ok := with(sel, "state", "succeeded", "instance", labels.Pod)
	if s := one(t, g, "db_backup_job_status_timestamp_seconds", ok); s.Value != float64(end.Unix()) {
		t.Errorf("succeeded timestamp = %v, want %d", s.Value, end.Unix())
	}
	if s := one(t, g, "db_backup_job_duration_seconds", ok); s.Value != 90 {
		t.Errorf("succeeded duration = %v, want 90", s.Value)
	}
	if s := one(t, g, "db_backup_job_status_timestamp_seconds", with(sel, "state", "running")); s.Value != float64(start.Unix()) {
		t.Errorf("running timestamp = %v, want %d", s.Value, start.Unix())
	}
}

func TestAFailedRunKeepsTheLastSuccessAndOtherOperationsApart(t *testing.T) {
	g := testenv.StartPushgateway(t)
	p := &metrics.Pusher{URL: g.URL}
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	p.Started(ctx, labels, t0)
	p.Finished(ctx, labels, t0, t0.Add(time.Minute), metrics.Result{Size: 42})
	restore := labels
	restore.Operation = "restore"
	p.Finished(ctx, restore, t0, t0.Add(time.Minute), metrics.Result{Size: 7, DumpTime: t0.Add(-time.Hour)})

	next := labels
	next.Pod = "chat-backup-2902-fghij"
	t1 := t0.Add(24 * time.Hour)
	p.Started(ctx, next, t1)
	p.Finished(ctx, next, t1, t1.Add(5*time.Second), metrics.Result{Err: errors.New("pg_dump died")})

	if s := one(t, g, "db_backup_job_state", sel); s.Value != metrics.Failed || s.Labels["instance"] != next.Pod {
		t.Errorf("db_backup_job_state %+v, want 0 from pod %s", s, next.Pod)
	}
	if s := one(t, g, "db_backup_job_status_timestamp_seconds", with(sel, "state", "succeeded")); s.Value != float64(t0.Add(time.Minute).Unix()) || s.Labels["instance"] != labels.Pod {
		t.Errorf("the last success's timestamp became %+v after a failed run", s)
	}
	if s := one(t, g, "db_backup_job_status_timestamp_seconds", with(sel, "state", "failed")); s.Value != float64(t1.Add(5*time.Second).Unix()) {
		t.Errorf("failed timestamp = %v", s.Value)
	}
	if s := one(t, g, "db_backup_job_file_size_bytes", sel); s.Value != 42 {
		t.Errorf("size after a failed run = %v, want the last success's 42", s.Value)
	}
	r := with(sel, "operation", "restore")
	if s := one(t, g, "db_backup_job_state", r); s.Value != metrics.Succeeded {
		t.Errorf("the restore's state = %v, want 2 untouched by the backup's failure", s.Value)
	}
	if s := one(t, g, "db_backup_restored_dump_timestamp_seconds", r); s.Value != float64(t0.Add(-time.Hour).Unix()) {
		t.Errorf("restored dump timestamp = %v", s.Value)
	}
}

func TestAPushgatewayThatIsDownCostsAWarningOnly(t *testing.T) {
	g := testenv.StartPushgateway(t)
	g.Proc.Stop()
	var logs bytes.Buffer
	p := &metrics.Pusher{URL: strings.Replace(g.URL, "http://", "http://user:hunter2@", 1), Log: slog.New(slog.NewTextHandler(&logs, nil)), Timeout: 2 * time.Second}
	p.Started(context.Background(), labels, time.Now())
	p.Finished(context.Background(), labels, time.Now(), time.Now(), metrics.Result{})
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "Pushgateway") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Fatalf("the Pushgateway password is in the log:\n%s", logs.String())
	}
}
