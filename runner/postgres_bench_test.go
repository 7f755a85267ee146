package runner_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envsync/envsync/testenv"
)

// pgBenchScale is pgbench's scale of the generated database: 70 (with the
// text table, about 1.3 GiB on disk), or ENVSYNC_BENCH_PG_SCALE for a quick
// try of the benchmark itself.
func pgBenchScale() int {
	if v, err := strconv.Atoi(os.Getenv("ENVSYNC_BENCH_PG_SCALE")); err == nil && v > 0 {
		return v
	}
	return 70
}

// BenchmarkPostgreSQLAgainstTheShellPipelines runs, in one run against the
// same PostgreSQL and S3 servers, on a generated database of more than 1 GiB:
// envsync backup beside `pg_dump -Fc -Z1 | aws s3 cp -` (the shell pipeline
// it replaces) and beside `pg_dump -Fc -Z0 > /dev/null` (the limit: the
// dump alone, uncompressed, unstored); envsync restore beside
// `aws s3 cp - | pg_restore -f - | psql`. It reports wall-time ratios and
// the runner's own peak resident memory.
func BenchmarkPostgreSQLAgainstTheShellPipelines(b *testing.B) {
	const db = "bench"
	pg, dst := testenv.StartPostgres(b), testenv.StartPostgres(b)
	s3srv := testenv.StartS3(b)
	bucket := s3srv.CreateBucket(b, "pg-bench")
	bin := envsyncBinary(b)
	path := "PATH=" + pg.BinDir + string(os.PathListSeparator) + os.Getenv("PATH")

	gen := time.Now()
	size := generatePGBench(b, pg, db, pgBenchScale())
	b.Logf("generated database %s: %d MiB on disk in %s", db, size>>20, time.Since(gen).Round(time.Second))

	env := func(pg *testenv.Postgres) []string {
		return append(append(os.Environ(), s3srv.Env()...), path,
			"DB_ENGINE=postgres", "DB_HOST="+pg.Host, "DB_PORT="+strconv.Itoa(pg.Port),
			"DB_USER="+pg.User, "DB_PASSWORD="+pg.Password, "DB_DATABASE="+db, "DB_OWNER="+pg.User,
			"DB_INSTANCE=bench-postgres", "BUCKET="+s3srv.URL(bucket), "ENVIRONMENT=staging")
	}
	shellEnv := append(append(pg.Env(db), s3srv.Env()...), path)
	dstShellEnv := append(append(dst.Env(db), s3srv.Env()...), path)
	shellKey := fmt.Sprintf("s3://%s/shell/2024-01-01T000000Z-%s.pgdump", bucket, db)

	b.ResetTimer()
	for range b.N {
		// Each restore starts from a target server without the database.
		dst.Exec(b, "postgres", "DROP DATABASE IF EXISTS "+db)
		dst.Exec(b, "postgres", "DROP DATABASE IF EXISTS "+db+"_shell")
		limit, _ := pgTimeRun(b, shellEnv, "bash", "-c", "set -euo pipefail; pg_dump -Fc -Z0 > /dev/null")
		shellBackup, _ := pgTimeRun(b, shellEnv, "bash", "-c",
			`set -euo pipefail; pg_dump -Fc -Z1 | aws s3 cp --endpoint-url "$AWS_ENDPOINT_URL_S3" - `+shellKey)
		envBackup, envBackupRSS := pgTimeRun(b, env(pg), bin, "run", "backup")

		shellRestore, _ := pgTimeRun(b, dstShellEnv, "bash", "-c", fmt.Sprintf(
			`set -euo pipefail; createdb %[1]s_shell; aws s3 cp --endpoint-url "$AWS_ENDPOINT_URL_S3" %[2]s - | pg_restore -f - | psql -q -v ON_ERROR_STOP=1 -d %[1]s_shell >/dev/null`,
			db, shellKey))
		// The restore follows the pointer that the backup wrote.
		envRestore, envRestoreRSS, logs := pgTimeRunLogs(b, env(dst), bin, "run", "restore")
		b.Log("where the restore's time goes: " + timeline(logs))

		// The same restore with a local copy of the verified dump loaded
		// by pg_restore --jobs instead of a second download.
		local, _, localLogs := pgTimeRunLogs(b, append(env(dst), "ENVSYNC_RESTORE_LOCAL_COPY=true"), bin, "run", "restore")
		b.Log("with a local copy: " + timeline(localLogs))
		b.Logf("restore with ENVSYNC_RESTORE_LOCAL_COPY=true (one download, pg_restore --jobs): %s", local.Round(time.Millisecond))
		b.ReportMetric(local.Seconds()/shellRestore.Seconds(), "restore-local-copy-time/shell")

		b.Logf("backup: envsync %s (peak RSS %d MiB); pg_dump -Fc -Z1 | aws s3 cp %s; pg_dump -Fc -Z0 > /dev/null %s",
			envBackup.Round(time.Millisecond), envBackupRSS>>20, shellBackup.Round(time.Millisecond), limit.Round(time.Millisecond))
		b.Logf("restore: envsync %s (peak RSS %d MiB, includes a verification pass); aws s3 cp | pg_restore -f - | psql %s",
			envRestore.Round(time.Millisecond), envRestoreRSS>>20, shellRestore.Round(time.Millisecond))
		b.ReportMetric(envBackup.Seconds()/shellBackup.Seconds(), "backup-time/shell")
		b.ReportMetric(envBackup.Seconds()/limit.Seconds(), "backup-time/limit")
		b.ReportMetric(envRestore.Seconds()/shellRestore.Seconds(), "restore-time/shell")
		b.ReportMetric(float64(max(envBackupRSS, envRestoreRSS))/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(envBackup.Seconds(), "envsync-backup-s")
		b.ReportMetric(envRestore.Seconds(), "envsync-restore-s")
	}
}

// generatePGBench creates db with pgbench's tables at scale (about 15 MiB a
// unit, indexes included) and a text-heavy table of hex words, the kind of
// column that compresses about 2:1; it returns the database's size.
func generatePGBench(b *testing.B, pg *testenv.Postgres, db string, scale int) int64 {
	b.Helper()
	pg.Exec(b, "postgres", "CREATE DATABASE "+db)
	cmd := exec.Command(pg.Tool("pgbench"), "-i", "-q", "-s", strconv.Itoa(scale))
	cmd.Env = pg.Env(db)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	pg.Exec(b, db, fmt.Sprintf(`CREATE TABLE documents (id int PRIMARY KEY, title text, body text);
		INSERT INTO documents
		SELECT i, 'Document ' || i,
			(SELECT string_agg(md5((i * 16 + j)::text), ' ') FROM generate_series(1, 16) j)
		FROM generate_series(1, %d) i;`, scale*7000))
	pg.Exec(b, db, "VACUUM ANALYZE")
	// The generation's dirty pages are written out now, not by a checkpoint
	// or the kernel's writeback during the timed runs.
	pg.Exec(b, db, "CHECKPOINT")
	syscall.Sync()
	var size int64
	if err := pg.Connect(b, db).QueryRow(b.Context(), "SELECT pg_database_size(current_database())").Scan(&size); err != nil {
		b.Fatal(err)
	}
	return size
}

// timeline is the runner's log messages with the seconds since the first.
func timeline(logs string) string {
	var out []string
	var first time.Time
	for _, line := range strings.Split(logs, "\n") {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg == "progress" {
			continue
		}
		if first.IsZero() {
			first = rec.Time
		}
		out = append(out, fmt.Sprintf("%.1fs %s", rec.Time.Sub(first).Seconds(), rec.Msg))
	}
	return strings.Join(out, "; ")
}

// pgTimeRun runs a command to completion and returns its wall time and its
// own peak resident memory (VmHWM, polled; its children, pg_dump or
// pg_restore, are not counted).
func pgTimeRun(b *testing.B, env []string, name string, args ...string) (time.Duration, int64) {
	took, peak, _ := pgTimeRunLogs(b, env, name, args...)
	return took, peak
}

// pgTimeRunLogs is pgTimeRun that also returns the end of the output.
func pgTimeRunLogs(b *testing.B, env []string, name string, args ...string) (time.Duration, int64, string) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out := &tailWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	hwm := make(chan memStatus, 1)
	go func() {
		var peak memStatus
		for {
			if m := readMemStatus(cmd.Process.Pid); m.hwm > peak.hwm {
				peak = m
			}
			select {
			case <-done:
				hwm <- peak
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	took := time.Since(start)
	close(done)
	m := <-hwm
	peak := m.hwm
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	if name != "bash" {
		// The Go heap and stacks are anonymous memory; the binary's code is
		// file-backed.
		b.Logf("%s %v: peak RSS %d MiB (when it rose last: %d MiB anonymous, %d MiB of mapped files)",
			filepath.Base(name), args, m.hwm>>20, m.anon>>20, m.file>>20)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && peak == 0 {
		peak = ru.Maxrss << 10
	}
	return took, peak, out.String()
}

// memStatus is a process's peak resident set so far and its current
// anonymous and file-backed parts, in bytes; zeros once it is gone.
type memStatus struct{ hwm, anon, file int64 }

func readMemStatus(pid int) memStatus {
	var m memStatus
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, rest, _ := strings.Cut(s.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		switch name {
		case "VmHWM":
			m.hwm = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
		}
	}
	return m
}

// tailWriter keeps the last 16 KiB of a command's output for the failure
// message.
type tailWriter struct{ b []byte }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	if len(w.b) > 16<<10 {
		w.b = w.b[len(w.b)-16<<10:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string { return string(w.b) }
