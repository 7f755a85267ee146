package runner_test

import (
	"encoding/json"
	"fmt"
	"os"
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
// `aws s3 cp - | pg_restore -f - | psql`. It reports wall-time and CPU-time
// ratios, CPU-seconds per GiB of the database (on disk) of each, and the
// runner's own peak resident memory.
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
		limit := measure(b, shellEnv, "bash", "-c", "set -euo pipefail; pg_dump -Fc -Z0 > /dev/null")
		shellBackup := measure(b, shellEnv, "bash", "-c",
			`set -euo pipefail; pg_dump -Fc -Z1 | aws s3 cp --endpoint-url "$AWS_ENDPOINT_URL_S3" - `+shellKey)
		envBackup := measure(b, env(pg), bin, "run", "backup")

		shellRestore := measure(b, dstShellEnv, "bash", "-c", fmt.Sprintf(
			`set -euo pipefail; createdb %[1]s_shell; aws s3 cp --endpoint-url "$AWS_ENDPOINT_URL_S3" %[2]s - | pg_restore -f - | psql -q -v ON_ERROR_STOP=1 -d %[1]s_shell >/dev/null`,
			db, shellKey))
		// The restore follows the pointer that the backup wrote.
		envRestore := measure(b, env(dst), bin, "run", "restore")
		b.Log("where the restore's time goes: " + timeline(envRestore.out))

		// The same restore from a local copy of the checked dump, loaded by
		// pg_restore --jobs: the option for servers with cores to spare.
		local := measure(b, append(env(dst), "ENVSYNC_RESTORE_LOCAL_COPY=true"), bin, "run", "restore")
		b.Log("with a local copy: " + timeline(local.out))
		// The same restore with its rows on two sessions: the option for
		// servers with cores to spare.
		sessions := measure(b, append(env(dst), "ENVSYNC_POSTGRES_LOAD_SESSIONS=2"), bin, "run", "restore")

		b.Logf("backup: envsync %s (peak RSS %d MiB); pg_dump -Fc -Z1 | aws s3 cp %s; pg_dump -Fc -Z0 > /dev/null %s",
			envBackup.wall.Round(time.Millisecond), envBackup.peak>>20, shellBackup.wall.Round(time.Millisecond), limit.wall.Round(time.Millisecond))
		b.Logf("restore: envsync %s (peak RSS %d MiB, one pass); with ENVSYNC_RESTORE_LOCAL_COPY=true %s; with ENVSYNC_POSTGRES_LOAD_SESSIONS=2 %s; aws s3 cp | pg_restore -f - | psql %s",
			envRestore.wall.Round(time.Millisecond), envRestore.peak>>20, local.wall.Round(time.Millisecond),
			sessions.wall.Round(time.Millisecond), shellRestore.wall.Round(time.Millisecond))
		b.ReportMetric(envBackup.wall.Seconds()/shellBackup.wall.Seconds(), "backup-time/shell")
		b.ReportMetric(envBackup.wall.Seconds()/limit.wall.Seconds(), "backup-time/limit")
		b.ReportMetric(envRestore.wall.Seconds()/shellRestore.wall.Seconds(), "restore-time/shell")
		b.ReportMetric(local.wall.Seconds()/shellRestore.wall.Seconds(), "restore-local-copy-time/shell")
		b.ReportMetric(sessions.wall.Seconds()/shellRestore.wall.Seconds(), "restore-2-sessions-time/shell")
		b.ReportMetric(envBackup.cpu.Seconds()/shellBackup.cpu.Seconds(), "backup-cpu/shell")
		b.ReportMetric(envRestore.cpu.Seconds()/shellRestore.cpu.Seconds(), "restore-cpu/shell")
		envBackup.report(b, "envsync-backup", size)
		shellBackup.report(b, "shell-backup", size)
		limit.report(b, "limit-backup", size)
		envRestore.report(b, "envsync-restore", size)
		local.report(b, "local-copy-restore", size)
		sessions.report(b, "2-sessions-restore", size)
		shellRestore.report(b, "shell-restore", size)
		b.ReportMetric(float64(max(envBackup.peak, envRestore.peak, local.peak, sessions.peak))/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(envBackup.wall.Seconds(), "envsync-backup-s")
		b.ReportMetric(envRestore.wall.Seconds(), "envsync-restore-s")

		// The same backup and restore without row counts: what counting
		// the dump as it streams by, and checking the loaded shadow
		// against the counts, cost.
		// Each pair runs back to back, the servers' caches alike.
		uncounted := measure(b, append(env(pg), "ENVSYNC_COUNT_ROWS=false"), bin, "run", "backup")
		unchecked := measure(b, env(dst), bin, "run", "restore")
		counted := measure(b, env(pg), bin, "run", "backup")
		checked := measure(b, env(dst), bin, "run", "restore")
		b.Logf("row counts: backup %s counting, %s without; restore %s checking, %s without",
			counted.wall.Round(time.Millisecond), uncounted.wall.Round(time.Millisecond), checked.wall.Round(time.Millisecond), unchecked.wall.Round(time.Millisecond))
		b.ReportMetric(counted.wall.Seconds()/uncounted.wall.Seconds(), "backup-counting-rows-time/without")
		b.ReportMetric(counted.cpu.Seconds()/uncounted.cpu.Seconds(), "backup-counting-rows-cpu/without")
		b.ReportMetric(checked.wall.Seconds()/unchecked.wall.Seconds(), "restore-checking-rows-time/without")

		// The gzip format (ENVSYNC_DUMP_FORMAT=gzip, what laptops read),
		// beside envsync's zstd: last, as its pointer is then the newest.
		gzBackup := measure(b, append(env(pg), "ENVSYNC_DUMP_FORMAT=gzip"), bin, "run", "backup")
		gzRestore := measure(b, env(dst), bin, "run", "restore")
		b.ReportMetric(gzBackup.wall.Seconds()/envBackup.wall.Seconds(), "gzip-backup-time/zstd")
		b.ReportMetric(gzRestore.wall.Seconds()/envRestore.wall.Seconds(), "gzip-restore-time/zstd")
		gzBackup.report(b, "gzip-backup", size)
		gzRestore.report(b, "gzip-restore", size)
	}
}

// generatePGBench creates db with pgbench's tables at scale (about 15 MiB a
// unit, indexes included) and a text-heavy table of hex words, the kind of
// column that compresses about 2:1; it returns the database's size.
func generatePGBench(b *testing.B, pg *testenv.Postgres, db string, scale int) int64 {
	b.Helper()
	pg.CreatePGBench(b, db, scale)
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
