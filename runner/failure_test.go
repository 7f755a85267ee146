package runner_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/envsync/envsync/runner"
	"github.com/envsync/envsync/testenv"
)

// Failures before an operation starts still fire "operation failed": the
// built binary, run as a CronJob container runs it, pushes state 0 to a real
// Pushgateway on the series its settings name.

func failingRunEnv(pgw *testenv.Pushgateway, bucketDir string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"DB_ENGINE=postgres",
		"DB_HOST=127.0.0.1",
		"DB_PORT=1", // nothing listens there: an operation that got as far as connecting fails
		"DB_USER=u",
		"DB_PASSWORD=p",
		"DB_DATABASE=chat_production",
		"DB_INSTANCE=chat-postgres",
		"BUCKET=file://" + bucketDir,
		"ENVIRONMENT=staging",
		"HOSTNAME=chat-postgres-29012345-abcde",
		"PROMETHEUS_PUSHGATEWAY_URL=" + pgw.URL,
	}
	return append(env, extra...)
}

func TestAFailureBeforeTheOperationStartsIsReportedAsFailed(t *testing.T) {
	bin := envsyncBinary(t)
	pgw := testenv.StartPushgateway(t)
	for _, c := range []struct {
		name      string
		op        string
		extra     []string
		engine    string
		wantErr   string
		transform bool // a sanitising restore also reports its transform
	}{
		{name: "an engine the runner cannot run", op: "backup", extra: []string{"DB_ENGINE=cassandra", "DB_INSTANCE=engine-case"}, engine: "cassandra", wantErr: `DB_ENGINE "cassandra" is not supported`},
		{name: "a bucket of an unknown scheme", op: "backup", extra: []string{"BUCKET=ftp://x", "DB_INSTANCE=bucket-case"}, engine: "postgres", wantErr: "ftp://x"},
		{name: "a sanitise script missing from the ConfigMap", op: "restore", extra: []string{"SANITISE_SCRIPT=/nonexistent.sql", "DB_INSTANCE=script-case"}, engine: "postgres", wantErr: "/nonexistent.sql", transform: true},
		{name: "a port that is not a number", op: "backup", extra: []string{"DB_PORT=fivefourthreetwo", "DB_INSTANCE=port-case"}, engine: "postgres", wantErr: "DB_PORT"},
		{name: "a restore into production without the opt-in", op: "restore", extra: []string{"ENVIRONMENT=production", "DB_INSTANCE=guard-case"}, engine: "postgres", wantErr: "REALLY_RESTORE_ONTO_PRODUCTION"},
		{name: "a restore that does not say where it runs", op: "restore", extra: []string{"ENVIRONMENT=", "DB_INSTANCE=noenv-case"}, engine: "postgres", wantErr: "ENVIRONMENT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, "run", c.op)
			cmd.Env = failingRunEnv(pgw, t.TempDir(), c.extra...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("envsync run %s succeeded:\n%s", c.op, out)
			}
			if !strings.Contains(string(out), c.wantErr) {
				t.Errorf("the error does not name %q:\n%s", c.wantErr, out)
			}
			instance := strings.TrimPrefix(c.extra[len(c.extra)-1], "DB_INSTANCE=")
			ops := []string{c.op}
			if c.transform {
				ops = append(ops, "transform")
			}
			for _, op := range ops {
				s := pgw.Series(t, "db_backup_job_state", map[string]string{
					"database_engine": c.engine, "database_instance": instance, "database_db_name": "chat_production", "operation": op,
				})
				if len(s) != 1 || s[0].Value != 0 {
					t.Errorf("db_backup_job_state{operation=%q,database_instance=%q} = %+v, want one series at 0", op, instance, s)
				}
			}
		})
	}
}

func TestAMisspelledOperationIsRefusedBeforeAnythingIsPushed(t *testing.T) {
	bin := envsyncBinary(t)
	pgw := testenv.StartPushgateway(t)
	cmd := exec.Command(bin, "run", "restor")
	cmd.Env = failingRunEnv(pgw, t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown operation "restor"`) {
		t.Fatalf("envsync run restor: %v\n%s", err, out)
	}
	if s := pgw.Series(t, "db_backup_job_state", nil); len(s) != 0 {
		t.Errorf("a misspelled operation pushed %+v; a series no run ever clears would fire forever", s)
	}
}

func TestEveryBadSettingIsReportedAtOnce(t *testing.T) {
	_, err := runner.FromEnv(env(map[string]string{"DB_PORT": "x", "ENVSYNC_PART_SIZE_MIB": "1", "ENVSYNC_UPLOAD_CONCURRENCY": "0",
		"ENVSYNC_POSTGRES_LOAD_SESSIONS": "many", "ENVSYNC_MYSQL_LOAD_WORKERS": "-3", "ENVSYNC_STALL_TIMEOUT": "soon"}))
	for _, name := range []string{"DB_PORT", "ENVSYNC_PART_SIZE_MIB", "ENVSYNC_UPLOAD_CONCURRENCY", "ENVSYNC_POSTGRES_LOAD_SESSIONS", "ENVSYNC_MYSQL_LOAD_WORKERS", "ENVSYNC_STALL_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
	err = runner.Config{}.WithDefaults().Validate("backup")
	for _, name := range []string{"DB_ENGINE", "DB_HOST", "DB_DATABASE", "BUCKET"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Validate of an empty config: %v does not name %s", err, name)
		}
	}
}

func TestTheProductionGuardDecidesFromTheEnvironmentsName(t *testing.T) {
	for env, want := range map[string]bool{
		"production": true, "prod": true, "preprod": true, "PRODUCTION": true, "live": true, "eks-live": true,
		"prd": true, "uk_prd_1": true,
		"staging": false, "integration": false, "delivery": false, "olive": false, "test": false,
	} {
		if got := runner.IsProduction(env); got != want {
			t.Errorf("IsProduction(%q) = %v, want %v", env, got, want)
		}
	}
}

// A Pushgateway that is slow, down, or that accepts connections and never
// answers (a real one behind Toxiproxy) costs the job at most the push
// timeout (10 s) per push — four for a backup — and a warning, never its
// outcome: the backup completes and stores its dump; a slow one still gets
// the state.
func TestAPushgatewaySlowDownOrHungDoesNotChangeTheOutcomeAndCannotHangTheJob(t *testing.T) {
	bin := envsyncBinary(t)
	pg := testenv.StartPostgres(t)
	pg.Exec(t, "postgres", "CREATE DATABASE chat_production")
	pg.Exec(t, "chat_production", "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000)")
	pgw := testenv.StartPushgateway(t)
	tox := testenv.StartToxiproxy(t)
	proxy, host, port := tox.Proxy(t, "pushgateway", strings.TrimPrefix(pgw.URL, "http://"))
	url := "http://" + host + ":" + strconv.Itoa(port)

	for _, c := range []struct {
		name   string
		fault  func() error
		undo   func() error
		pushed bool // the state reaches the Pushgateway
	}{
		{"slow (each answer 2 s late)", func() error {
			_, err := proxy.AddToxic("slow", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 2000})
			return err
		}, func() error { return proxy.RemoveToxic("slow") }, true},
		{"hung (accepts, never answers)", func() error {
			_, err := proxy.AddToxic("hung", "timeout", "downstream", 1, toxiproxy.Attributes{"timeout": 0})
			return err
		}, func() error { return proxy.RemoveToxic("hung") }, false},
		{"down", proxy.Disable, proxy.Enable, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.fault(); err != nil {
				t.Fatal(err)
			}
			defer c.undo()
			instance := "chat-postgres-" + strings.Fields(c.name)[0]
			bucket := t.TempDir()
			cmd := exec.CommandContext(t.Context(), bin, "run", "backup")
			cmd.Env = []string{
				"PATH=" + pg.BinDir + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
				"DB_ENGINE=postgres", "DB_HOST=" + pg.Host, "DB_PORT=" + strconv.Itoa(pg.Port),
				"DB_USER=" + pg.User, "DB_PASSWORD=" + pg.Password, "DB_DATABASE=chat_production",
				"DB_INSTANCE=" + instance, "BUCKET=file://" + bucket, "ENVIRONMENT=staging",
				"HOSTNAME=chat-postgres-29012345-abcde", "PROMETHEUS_PUSHGATEWAY_URL=" + url,
			}
			done := make(chan error, 1)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("the backup failed: %v\n%s", err, out.String())
				}
			case <-time.After(3 * time.Minute):
				cmd.Process.Kill()
				t.Fatalf("the backup hung with the Pushgateway %s:\n%s", c.name, out.String())
			}
			dumps, _ := filepath.Glob(filepath.Join(bucket, instance, "*-chat_production.pgdump.zst"))
			if len(dumps) != 1 {
				t.Errorf("dumps in the bucket: %v", dumps)
			}
			if !strings.Contains(out.String(), "operation succeeded") {
				t.Errorf("no success:\n%s", out.String())
			}
			if !c.pushed && !strings.Contains(out.String(), `"level":"WARN"`) {
				t.Errorf("no warning about the Pushgateway:\n%s", out.String())
			}
			if c.pushed {
				s := pgw.Series(t, "db_backup_job_state", map[string]string{"database_instance": instance})
				if len(s) != 1 || s[0].Value != 2 {
					t.Errorf("a slow Pushgateway got %+v, want state 2", s)
				}
			}
		})
	}
}

// A database name the object layout cannot hold is refused before
// anything runs, as vet refuses it.
func TestADatabaseNameWithASlashIsRefused(t *testing.T) {
	c, err := runner.FromEnv(env(map[string]string{"DB_ENGINE": "postgres", "DB_HOST": "h", "DB_DATABASE": "a/b", "BUCKET": "s3://b"}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.WithDefaults().Validate("backup")
	if err == nil || !strings.Contains(err.Error(), `DB_DATABASE "a/b"`) {
		t.Errorf("error %v, want DB_DATABASE a/b refused", err)
	}
}
