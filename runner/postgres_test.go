package runner_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/testenv"
)

// Whole operations of the built envsync binary against real PostgreSQL
// servers, a real S3 server (versitygw) and a real Pushgateway, configured by
// the runner environment of docs/contracts.md, as the CronJobs run it. The binary is
// built with -tags envsynctest, which adds the pause points that the SIGKILL
// tests stop at (ENVSYNC_TEST_PAUSE); nothing else differs.

const (
	pgInstance = "content-postgres"
	pgDatabase = "content_store_production"
	pgOwner    = "content_store" // what the runner derives from pgDatabase
)

// pgFixture is an app's database: two schemas, keys, an enum, a view, a
// function and a trigger, and a few MiB of rows with personal data.
const pgFixture = `
CREATE SCHEMA audit;
CREATE TYPE mood AS ENUM ('ok', 'meh');
CREATE TABLE people (id serial PRIMARY KEY, email text NOT NULL, name text, mood mood, born date, note text);
CREATE TABLE audit.events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, person int REFERENCES people, payload jsonb);
CREATE INDEX ON people (email);
CREATE VIEW adults AS SELECT id, email FROM people WHERE born < '2000-01-01';
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.payload := coalesce(NEW.payload, '{}'); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT ON audit.events FOR EACH ROW EXECUTE FUNCTION stamp();
INSERT INTO people (email, name, mood, born, note)
	SELECT 'person' || i || '@example.com', 'Person ' || i, (ARRAY['ok','meh'])[1 + i % 2]::mood,
		date '1950-01-01' + i % 20000, repeat(md5(i::text), 3)
	FROM generate_series(1, 40000) i;
INSERT INTO audit.events (person, payload) SELECT 1 + i % 40000, jsonb_build_object('i', i) FROM generate_series(1, 5000) i;
`

// pgSanitise removes the personal data; pgUnsanitised counts what it missed.
const (
	pgSanitise = `UPDATE people SET email = 'user' || id || '@example.invalid', name = NULL;
TRUNCATE audit.events;
`
	pgUnsanitised = `SELECT (SELECT count(*) FROM people WHERE email NOT LIKE '%@example.invalid' OR name IS NOT NULL)
	+ (SELECT count(*) FROM audit.events)`
)

type pgRig struct {
	bin      string
	s3       *testenv.S3Server
	src, dst *testenv.Postgres
	pgw      *testenv.Pushgateway
}

func newPGRig(t *testing.T) *pgRig {
	t.Helper()
	r := &pgRig{bin: envsyncBinary(t), s3: testenv.StartS3(t), src: testenv.StartPostgres(t), dst: testenv.StartPostgres(t), pgw: testenv.StartPushgateway(t)}
	r.s3.CreateBucket(t, "dumps")
	r.src.Exec(t, "postgres", "CREATE DATABASE "+pgDatabase)
	r.src.Exec(t, pgDatabase, pgFixture)
	r.dst.Exec(t, "postgres", "CREATE ROLE "+pgOwner)
	return r
}

// env is the runner environment for an operation on pg's pgDatabase; extra
// settings (KEY=value) come last and win.
func (r *pgRig) env(pg *testenv.Postgres, extra ...string) []string {
	env := []string{
		"PATH=" + pg.BinDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"DB_ENGINE=postgres",
		"DB_HOST=" + pg.Host,
		"DB_PORT=" + strconv.Itoa(pg.Port),
		"DB_USER=" + pg.User,
		"DB_PASSWORD=" + pg.Password,
		"DB_DATABASE=" + pgDatabase,
		"DB_INSTANCE=" + pgInstance,
		"BUCKET=s3://dumps",
		"ENVIRONMENT=integration",
		"HOSTNAME=content-postgres-restore-29012345-abcde",
		"PROMETHEUS_PUSHGATEWAY_URL=" + r.pgw.URL,
	}
	env = append(env, r.s3.Env()...)
	return append(env, extra...)
}

// envsyncRun is one `envsync run <op>` child process.
type envsyncRun struct {
	cmd  *exec.Cmd
	logs *syncedBuffer
	done chan error
}

func (r *pgRig) start(t *testing.T, pg *testenv.Postgres, op string, extra ...string) *envsyncRun {
	t.Helper()
	cmd := exec.Command(r.bin, "run", op)
	cmd.Env = r.env(pg, extra...)
	run := &envsyncRun{cmd: cmd, logs: &syncedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = run.logs, run.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { run.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-run.done
	})
	return run
}

// wait returns the run's error (nil on exit status 0) and its logs.
func (run *envsyncRun) wait(t *testing.T) (error, string) {
	t.Helper()
	select {
	case err := <-run.done:
		run.done <- err
		return err, run.logs.String()
	case <-time.After(3 * time.Minute):
		t.Fatalf("envsync %v did not finish:\n%s", run.cmd.Args[1:], run.logs.String())
		return nil, ""
	}
}

func (r *pgRig) run(t *testing.T, pg *testenv.Postgres, op string, extra ...string) (error, string) {
	t.Helper()
	return r.start(t, pg, op, extra...).wait(t)
}

func (r *pgRig) mustRun(t *testing.T, pg *testenv.Postgres, op string, extra ...string) string {
	t.Helper()
	err, logs := r.run(t, pg, op, extra...)
	if err != nil {
		t.Fatalf("envsync run %s: %v\n%s", op, err, logs)
	}
	return logs
}

func writeScript(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sanitise.sql")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *pgRig) put(t *testing.T, key string, b []byte) {
	t.Helper()
	cmd := exec.Command("aws", "s3", "cp", "-", "s3://dumps/"+key)
	cmd.Env = append(os.Environ(), r.s3.Env()...)
	cmd.Stdin = bytes.NewReader(b)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aws s3 cp - s3://dumps/%s: %v\n%s", key, err, out)
	}
}

func (r *pgRig) get(t *testing.T, key string) []byte {
	t.Helper()
	cmd := exec.Command("aws", "s3", "cp", "s3://dumps/"+key, "-")
	cmd.Env = append(os.Environ(), r.s3.Env()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws s3 cp s3://dumps/%s -: %v\n%s", key, err, stderr.String())
	}
	return out
}

// pgSideDatabases are the databases besides live: shadows and old copies.
func pgSideDatabases(t *testing.T, pg *testenv.Postgres) []string {
	t.Helper()
	var side []string
	for _, d := range pg.Databases(t) {
		if d != pgDatabase {
			side = append(side, d)
		}
	}
	return side
}

func TestEnvsyncRunOnPostgreSQL(t *testing.T) {
	r := newPGRig(t)
	ctx := context.Background()
	day := time.Now().UTC()
	pointer := layout.PointerKey(pgInstance, pgDatabase)

	t.Run("backup then restore into another server gives identical data, and the password is in no child's arguments nor in the logs", func(t *testing.T) {
		stopArgs := testenv.WatchArguments(r.src.Password, "pg_dump", "pg_restore", "psql")
		backupLogs := r.mustRun(t, r.src, "backup")
		restoreLogs := r.mustRun(t, r.dst, "restore")
		args := stopArgs()
		tools, leaks := args.Tools, args.Leaks
		if ok, diff := r.src.Snapshot(t, pgDatabase).Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
			t.Fatalf("restored data differs: %s", diff)
		}
		if side := pgSideDatabases(t, r.dst); len(side) != 0 {
			t.Errorf("databases left beside live: %v", side)
		}
		if !slices.Contains(tools, "pg_dump") || !slices.Contains(tools, "pg_restore") {
			t.Errorf("the watch saw only %v: it proves nothing", tools)
		}
		if len(leaks) > 0 {
			t.Errorf("the password is in the arguments of %q", leaks)
		}
		// The tools' environments hold their own connection and nothing of
		// the runner's: no AWS key, no DB_PASSWORD.
		if got := args.EnvHolding(r.s3.SecretKey); len(got) > 0 {
			t.Errorf("the S3 secret key is in the environment of %v", got)
		}
		if got := args.EnvHolding(r.src.Password, "PGPASSWORD"); len(got) > 0 {
			t.Errorf("the password is in the environment of %v outside PGPASSWORD", got)
		}
		if got := args.EnvNamed("AWS_", "DB_", "BUCKET"); len(got) > 0 {
			t.Errorf("the runner's variables reached its tools: %v", got)
		}
		if len(args.Environs) == 0 {
			t.Errorf("no tool's environment was read: the check proves nothing")
		}
		for name, logs := range map[string]string{"backup": backupLogs, "restore": restoreLogs} {
			if strings.Contains(logs, r.src.Password) || strings.Contains(logs, r.dst.Password) {
				t.Errorf("the password is in the %s logs", name)
			}
			if !strings.Contains(logs, `"msg":"operation succeeded"`) {
				t.Errorf("the %s logs do not say it succeeded:\n%s", name, logs)
			}
		}
		var owner string
		r.dst.Connect(t, pgDatabase).QueryRow(ctx, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'people'::regclass").Scan(&owner)
		if owner != pgOwner {
			t.Errorf("people is owned by %q after the restore, want %q (derived from the database name)", owner, pgOwner)
		}
	})

	t.Run("the pushed metrics read back from the Pushgateway with the right names, labels and values", func(t *testing.T) {
		key := strings.TrimSpace(string(r.get(t, pointer)))
		size := len(r.get(t, key))
		base := map[string]string{"job": "db-backup", "database_engine": "postgres", "database_instance": pgInstance,
			"database_db_name": pgDatabase, "instance": "content-postgres-restore-29012345-abcde"}
		with := func(kv ...string) map[string]string {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
		one := func(name string, match map[string]string) float64 {
			t.Helper()
			s := r.pgw.Series(t, name, match)
			if len(s) != 1 {
				t.Errorf("%s%v: %d series, want 1: %+v", name, match, len(s), s)
				return -1
			}
			return s[0].Value
		}
		for _, op := range []string{"backup", "restore"} {
			if v := one("db_backup_job_state", with("operation", op)); v != 2 {
				t.Errorf("db_backup_job_state{operation=%q} = %v, want 2 (succeeded)", op, v)
			}
			if v := one("db_backup_job_file_size_bytes", with("operation", op)); v != float64(size) {
				t.Errorf("db_backup_job_file_size_bytes{operation=%q} = %v, want the object's %d bytes", op, v, size)
			}
			if v := one("db_backup_job_duration_seconds", with("operation", op, "state", "succeeded")); v <= 0 || v > 600 {
				t.Errorf("db_backup_job_duration_seconds{operation=%q,state=succeeded} = %v", op, v)
			}
			for _, state := range []string{"running", "succeeded"} {
				v := one("db_backup_job_status_timestamp_seconds", with("operation", op, "state", state))
				if v < float64(day.Add(-time.Minute).Unix()) || v > float64(time.Now().Add(time.Minute).Unix()) {
					t.Errorf("db_backup_job_status_timestamp_seconds{operation=%q,state=%q} = %v, not around now", op, state, v)
				}
			}
		}
	})

	t.Run("a restore with a failing sanitise script fails and leaves live exactly as it was", func(t *testing.T) {
		r.dst.Exec(t, pgDatabase, "UPDATE people SET name = 'changed on the target' WHERE id < 100")
		before := r.dst.Snapshot(t, pgDatabase)
		script := writeScript(t, pgSanitise+"UPDATE people SET no_such_column = 1;\n")
		err, logs := r.run(t, r.dst, "restore", "SANITISE_SCRIPT="+script)
		if err == nil {
			t.Fatalf("the restore succeeded:\n%s", logs)
		}
		if !strings.Contains(logs, "no_such_column") || !strings.Contains(logs, "line 3") {
			t.Errorf("the logs do not say which line of the script failed and why:\n%s", logs)
		}
		if ok, diff := before.Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
			t.Fatalf("live changed: %s", diff)
		}
		if side := pgSideDatabases(t, r.dst); len(side) != 0 {
			t.Errorf("databases left beside live: %v", side)
		}
		if !r.dst.AllowsConnections(t, pgDatabase) {
			t.Error("live refuses connections")
		}
		for _, op := range []string{"restore", "transform"} {
			s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"operation": op, "database_db_name": pgDatabase})
			if len(s) != 1 || s[0].Value != 0 {
				t.Errorf("db_backup_job_state{operation=%q} = %+v, want 0 (failed)", op, s)
			}
		}
	})

	t.Run("a reader polling live during a sanitising restore never sees unsanitised rows, and clients are disconnected by the swap", func(t *testing.T) {
		r.dst.Exec(t, pgDatabase, pgSanitise) // live starts sanitised, as in integration
		idle := r.dst.Connect(t, pgDatabase)
		inTx := r.dst.Connect(t, pgDatabase)
		if _, err := inTx.Exec(ctx, "BEGIN; LOCK TABLE people IN ACCESS SHARE MODE"); err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		var reads, unsanitised, disconnects atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rctx.Err() == nil {
				c, err := pgx.Connect(rctx, r.dst.DSN(pgDatabase))
				if err != nil {
					time.Sleep(2 * time.Millisecond)
					continue
				}
				for rctx.Err() == nil {
					var n int64
					if err := c.QueryRow(rctx, pgUnsanitised).Scan(&n); err != nil {
						if rctx.Err() == nil {
							disconnects.Add(1)
						}
						break
					}
					reads.Add(1)
					unsanitised.Add(n)
				}
				c.Close(context.Background())
			}
		}()
		logs := r.mustRun(t, r.dst, "restore", "SANITISE_SCRIPT="+writeScript(t, pgSanitise))
		time.Sleep(100 * time.Millisecond)
		stop()
		wg.Wait()
		if reads.Load() < 10 {
			t.Fatalf("the reader read only %d times", reads.Load())
		}
		if n := unsanitised.Load(); n != 0 {
			t.Fatalf("the reader saw %d unsanitised rows in live", n)
		}
		for name, c := range map[string]*pgx.Conn{"an idle client": idle, "a client inside a transaction": inTx} {
			if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
				t.Errorf("%s is still connected to the old copy after the swap", name)
			}
		}
		t.Logf("the reader read %d times and was disconnected %d times", reads.Load(), disconnects.Load())
		if !strings.Contains(logs, `"msg":"swapped the shadow in as the live database"`) {
			t.Errorf("no swap in the logs:\n%s", logs)
		}
		var n int64
		r.dst.Connect(t, pgDatabase).QueryRow(ctx, "SELECT count(*) FROM people WHERE email LIKE '%@example.invalid'").Scan(&n)
		if n != 40000 {
			t.Errorf("%d sanitised people in live, want 40000", n)
		}
	})

	for _, point := range []struct{ name, pause, localCopy string }{
		{"while checking the dump into a local copy", "check", "true"},
		{"during the restore into the shadow", "restore", "false"},
		{"during the restore into the shadow from a local copy", "restore", "true"},
		{"during the sanitise script", "sanitise", "false"},
		{"just before the swap, with live refusing connections", "swap", "false"},
	} {
		t.Run("a restore killed "+point.name+" leaves live intact, and the next run succeeds and leaves no shadow", func(t *testing.T) {
			r.dst.Exec(t, pgDatabase, "UPDATE people SET name = 'marker of the old copy' WHERE id = 1")
			before := r.dst.Snapshot(t, pgDatabase)
			dir, tmp := t.TempDir(), t.TempDir()
			script := "SANITISE_SCRIPT=" + writeScript(t, pgSanitise)
			run := r.start(t, r.dst, "restore", script, "ENVSYNC_TEST_PAUSE="+point.pause+":"+dir,
				"TMPDIR="+tmp, "ENVSYNC_RESTORE_LOCAL_COPY="+point.localCopy)
			waitForFile(t, filepath.Join(dir, point.pause), run)
			run.cmd.Process.Signal(syscall.SIGKILL)
			<-run.done
			run.done <- nil
			if point.pause == "restore" && point.localCopy == "true" && !strings.Contains(run.logs.String(), "from the verified local copy") {
				t.Fatalf("the run was not loading a local copy when killed: the test proves less than it says:\n%s", run.logs.String())
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("files left in TMPDIR by the killed run: %v", left)
			}
			if point.pause == "swap" && r.dst.AllowsConnections(t, pgDatabase) {
				t.Fatal("the kill point is not where live refuses connections: the test proves less than it says")
			}
			// Live, connections aside, is the old copy.
			r.dst.Exec(t, "postgres", "ALTER DATABASE "+pgDatabase+" ALLOW_CONNECTIONS true")
			if ok, diff := before.Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
				t.Fatalf("live changed after a kill %s: %s", point.name, diff)
			}
			if point.pause == "swap" {
				r.dst.Exec(t, "postgres", "ALTER DATABASE "+pgDatabase+" ALLOW_CONNECTIONS false")
			}
			logs := r.mustRun(t, r.dst, "restore", script)
			if side := pgSideDatabases(t, r.dst); len(side) != 0 {
				t.Errorf("databases left beside live after the next run: %v", side)
			}
			if !r.dst.AllowsConnections(t, pgDatabase) {
				t.Error("live refuses connections after the next run")
			}
			var n int64
			c := r.dst.Connect(t, pgDatabase)
			c.QueryRow(ctx, pgUnsanitised).Scan(&n)
			if n != 0 {
				t.Errorf("%d unsanitised rows after the next run", n)
			}
			c.QueryRow(ctx, "SELECT count(*) FROM people WHERE name = 'marker of the old copy'").Scan(&n)
			if n != 0 {
				t.Errorf("live is still the old copy after the next run")
			}
			if point.pause != "check" && !strings.Contains(logs, "left by a killed restore") {
				t.Errorf("the next run did not say it cleaned up:\n%s", logs)
			}
		})
	}

	t.Run("a second restore started while one runs (a manual job beside the scheduled one) refuses, and the first completes", func(t *testing.T) {
		r.dst.Exec(t, pgDatabase, "UPDATE people SET name = 'marker of the old copy' WHERE id = 1")
		dir := t.TempDir()
		first := r.start(t, r.dst, "restore", "ENVSYNC_TEST_PAUSE=restore:"+dir)
		paused := filepath.Join(dir, "restore")
		waitForFile(t, paused, first)
		err, logs := r.run(t, r.dst, "restore")
		if err == nil || !hasLine(logs, `"msg":"operation failed"`, "another restore of") {
			t.Fatalf("the second restore did not refuse (%v):\n%s", err, logs)
		}
		os.Remove(paused)
		if err, logs := first.wait(t); err != nil {
			t.Fatalf("the first restore failed after the second refused: %v\n%s", err, logs)
		}
		var n int64
		r.dst.Connect(t, pgDatabase).QueryRow(ctx, "SELECT count(*) FROM people WHERE name = 'marker of the old copy'").Scan(&n)
		if n != 0 {
			t.Error("live is still the old copy")
		}
		if side := pgSideDatabases(t, r.dst); len(side) != 0 {
			t.Errorf("databases left beside live: %v", side)
		}
	})

	// Kubernetes stops a job at its deadline, or a pod being evicted, with
	// SIGTERM, then SIGKILL after the pod's grace period. The signal arrives
	// at each phase (the test resumes the paused run right after sending
	// it): the runner stops its child, drops its shadow, puts live back as
	// it was, pushes state 0 and exits non-zero, well within the grace
	// period, so the next run has nothing to clean.
	for _, point := range []struct{ name, pause, localCopy string }{
		{"while checking the dump into a local copy", "check", "true"},
		{"during the restore into the shadow", "restore", "false"},
		{"during the sanitise script", "sanitise", "false"},
		{"just before the swap, with live refusing connections", "swap", "false"},
	} {
		t.Run("SIGTERM "+point.name+": live intact, nothing left, state 0 pushed, a non-zero exit", func(t *testing.T) {
			r.dst.Exec(t, pgDatabase, "UPDATE people SET name = 'marker of the old copy' WHERE id = 1")
			before := r.dst.Snapshot(t, pgDatabase)
			dir, tmp := t.TempDir(), t.TempDir()
			run := r.start(t, r.dst, "restore", "SANITISE_SCRIPT="+writeScript(t, pgSanitise), "ENVSYNC_TEST_PAUSE="+point.pause+":"+dir,
				"TMPDIR="+tmp, "ENVSYNC_RESTORE_LOCAL_COPY="+point.localCopy)
			paused := filepath.Join(dir, point.pause)
			waitForFile(t, paused, run)
			if point.pause == "swap" && r.dst.AllowsConnections(t, pgDatabase) {
				t.Fatal("the signal point is not where live refuses connections: the test proves less than it says")
			}
			run.terminate(t, paused)
			s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"operation": "restore"})
			if len(s) != 1 || s[0].Value != 0 {
				t.Errorf("state pushed %+v, want 0", s)
			}
			if side := pgSideDatabases(t, r.dst); len(side) != 0 {
				t.Errorf("databases left beside live: %v", side)
			}
			if !r.dst.AllowsConnections(t, pgDatabase) {
				t.Error("live refuses connections after the run ended")
			}
			if ok, diff := before.Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
				t.Fatalf("live changed: %s", diff)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("files left in TMPDIR: %v", left)
			}
			if out, _ := exec.Command("pgrep", "-f", pgDatabase+"_envsync_shadow").Output(); len(out) > 0 {
				t.Errorf("a child still works on the shadow: pids %s", out)
			}
		})
	}

	// A foreign dump is refused by its first bytes, before any database is
	// touched. A truncated or corrupt one is found while it streams into the
	// shadow (one pass: no second download to check it first), so the
	// shadow exists for a while; live never changes and the shadow is gone
	// when the run ends.
	t.Run("bad dumps are refused: foreign ones before any database is touched, damaged ones before the swap", func(t *testing.T) {
		good := r.get(t, strings.TrimSpace(string(r.get(t, pointer))))
		corrupt := slices.Clone(good)
		for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
			corrupt[i] ^= 0x55
		}
		var mysqlGz bytes.Buffer
		zw := gzip.NewWriter(&mysqlGz)
		zw.Write([]byte("-- MySQL dump 10.13  Distrib 8.0.36\n--\nCREATE TABLE `people` (`id` int);\nINSERT INTO `people` VALUES (1);\n-- Dump completed\n"))
		zw.Close()
		cases := []struct {
			name    string
			data    []byte
			foreign bool
			want    string // in the error
		}{
			{"a truncated dump", good[:len(good)*2/3], false, "the dump is damaged (zstd stream): unexpected EOF"},
			{"a corrupted dump", corrupt, false, "the dump is damaged (zstd stream)"},
			{"a gzipped mysqldump", mysqlGz.Bytes(), true, "not a pg_dump custom-format archive"},
			{"a plain SQL text", []byte("CREATE TABLE people (id int);\nINSERT INTO people VALUES (1);\n"), true, "not a pg_dump custom-format archive"},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := r.dst.Snapshot(t, pgDatabase)
				key := layout.DumpKey(pgInstance, pgDatabase, day.Add(time.Duration(i+1)*time.Hour), "bad")
				sum := sha256.Sum256(c.data)
				// A sidecar that agrees: the engine's check, not the checksum, must refuse it.
				r.put(t, key, c.data)
				r.put(t, key+".sha256", []byte(hex.EncodeToString(sum[:])+"\n"))
				stop := r.dst.WatchDatabases(t)
				err, logs := r.run(t, r.dst, "restore", "FILENAME="+key)
				seen := stop()
				if err == nil {
					t.Fatalf("the restore succeeded:\n%s", logs)
				}
				if !hasLine(logs, `"msg":"operation failed"`, key, c.want) {
					t.Errorf("the failure does not name %s and say %q:\n%s", key, c.want, logs)
				}
				if c.foreign && !slices.Equal(seen, []string{pgDatabase}) {
					t.Errorf("databases seen during the refused restore: %v, want only live", seen)
				}
				if side := pgSideDatabases(t, r.dst); len(side) != 0 {
					t.Errorf("databases left beside live: %v", side)
				}
				if ok, diff := before.Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
					t.Fatalf("live changed: %s", diff)
				}
			})
		}
	})

	t.Run("a dump written by the shell pipeline with its pointer and no sidecar restores", func(t *testing.T) {
		r.src.Exec(t, pgDatabase, "UPDATE people SET name = 'from the shell pipeline' WHERE id = 7")
		key := layout.DumpKey(pgInstance, pgDatabase, day.Add(30*time.Hour), "gz")
		shell := fmt.Sprintf(`set -eo pipefail
pg_dump -Fc -Z1 | aws s3 cp - "s3://dumps/%s"
printf '%%s' "%s" | aws s3 cp - "s3://dumps/%s"`, key, key, pointer)
		cmd := exec.Command("bash", "-c", shell)
		cmd.Env = append(append(r.src.Env(pgDatabase), r.s3.Env()...), "PATH="+r.src.BinDir+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the shell pipeline: %v\n%s", err, out)
		}
		logs := r.mustRun(t, r.dst, "restore")
		if !strings.Contains(logs, key) || !strings.Contains(logs, "no checksum sidecar") {
			t.Errorf("the restore did not read %s without a sidecar:\n%s", key, logs)
		}
		if ok, diff := r.src.Snapshot(t, pgDatabase).Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
			t.Fatalf("restored data differs: %s", diff)
		}
	})

	t.Run("a restore streams the dump once, or when told to loads a local copy of the checked dump with parallel jobs; both leave nothing in TMPDIR", func(t *testing.T) {
		r.mustRun(t, r.src, "backup")
		for _, c := range []struct {
			setting, want, notWant string
		}{
			{"ENVSYNC_RESTORE_LOCAL_COPY=true", "from the verified local copy", "downloading it again"},
			{"ENVSYNC_RESTORE_LOCAL_COPY=false", "the whole dump was read and matches its checksum", "from the verified local copy"},
		} {
			r.dst.Exec(t, pgDatabase, "UPDATE people SET name = 'before the restore' WHERE id = 1")
			tmp := t.TempDir()
			logs := r.mustRun(t, r.dst, "restore", "TMPDIR="+tmp, c.setting)
			if !strings.Contains(logs, c.want) || strings.Contains(logs, c.notWant) {
				t.Errorf("with %s the logs do not say %q (or say %q):\n%s", c.setting, c.want, c.notWant, logs)
			}
			if ok, diff := r.src.Snapshot(t, pgDatabase).Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
				t.Fatalf("with %s restored data differs: %s", c.setting, diff)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("with %s files left in TMPDIR: %v", c.setting, left)
			}
		}
	})

	t.Run("a restore into production is refused without the opt-in and touches nothing", func(t *testing.T) {
		r.dst.Exec(t, pgDatabase, "UPDATE people SET name = 'production data' WHERE id = 1")
		before := r.dst.Snapshot(t, pgDatabase)
		stop := r.dst.WatchDatabases(t)
		err, logs := r.run(t, r.dst, "restore", "ENVIRONMENT=production")
		seen := stop()
		if err == nil || !strings.Contains(logs, "REALLY_RESTORE_ONTO_PRODUCTION") {
			t.Fatalf("error %v, want a refusal naming REALLY_RESTORE_ONTO_PRODUCTION:\n%s", err, logs)
		}
		if !slices.Equal(seen, []string{pgDatabase}) {
			t.Errorf("databases seen during the refused restore: %v", seen)
		}
		if ok, diff := before.Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
			t.Fatalf("live changed: %s", diff)
		}
		r.mustRun(t, r.dst, "restore", "ENVIRONMENT=production", "REALLY_RESTORE_ONTO_PRODUCTION=true")
		if ok, _ := before.Equal(r.dst.Snapshot(t, pgDatabase)); ok {
			t.Fatal("the restore with the opt-in did not replace live")
		}
	})

	t.Run("a transform runs on live in one transaction that stops at the first error", func(t *testing.T) {
		before := r.dst.Snapshot(t, pgDatabase)
		bad := writeScript(t, "UPDATE people SET name = 'transformed';\nSELECT 1/0;\n")
		if err, logs := r.run(t, r.dst, "transform", "SANITISE_SCRIPT="+bad); err == nil {
			t.Fatalf("a failing transform succeeded:\n%s", logs)
		}
		if ok, diff := before.Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
			t.Fatalf("a failed transform changed live: %s", diff)
		}
		r.mustRun(t, r.dst, "transform", "SANITISE_SCRIPT="+writeScript(t, pgSanitise))
		var n int64
		r.dst.Connect(t, pgDatabase).QueryRow(ctx, pgUnsanitised).Scan(&n)
		if n != 0 {
			t.Errorf("%d unsanitised rows after the transform", n)
		}
	})

	t.Run("with the Pushgateway stopped, backup and restore still succeed", func(t *testing.T) {
		r.pgw.Proc.Stop()
		for _, op := range []struct {
			pg *testenv.Postgres
			op string
		}{{r.src, "backup"}, {r.dst, "restore"}} {
			logs := r.mustRun(t, op.pg, op.op)
			if !strings.Contains(logs, `"level":"WARN","msg":"could not push metrics`) {
				t.Errorf("no warning about the Pushgateway in the %s logs:\n%s", op.op, logs)
			}
		}
		if ok, diff := r.src.Snapshot(t, pgDatabase).Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
			t.Fatalf("restored data differs: %s", diff)
		}
	})
}
