package runner_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/envsync/envsync/testenv"
)

// BenchmarkAPublishAgainstBackupRestoreBackup runs, in one run against the
// same servers, on the benchmark databases of more than 1 GiB (PostgreSQL's
// and MySQL's): a publish (the live dump streamed into a scratch server,
// the script there, the scratch's dump stored) beside what it replaces done
// one after another by envsync itself: a backup of the live database, a
// sanitising restore of it into the scratch server, a backup of the
// scratch. It reports the publish's wall time over the three's (at most 1
// by design: the dump is streamed into the scratch as it is read), its
// CPU-seconds per GiB, and its peak resident memory.
func BenchmarkAPublishAgainstBackupRestoreBackup(b *testing.B) {
	const db = "bench"
	b.Run("postgres", func(b *testing.B) {
		live, scratch := testenv.StartPostgres(b), testenv.StartPostgres(b)
		size := generatePGBench(b, live, db, pgBenchScale())
		script := filepath.Join(b.TempDir(), "sanitise.sql")
		os.WriteFile(script, []byte("UPDATE pgbench_branches SET filler = 'sanitised';\n"), 0o644)
		on := func(pg *testenv.Postgres) []string {
			return []string{"PATH=" + pg.BinDir + string(os.PathListSeparator) + os.Getenv("PATH"),
				"DB_ENGINE=postgres", "DB_HOST=" + pg.Host, "DB_PORT=" + strconv.Itoa(pg.Port),
				"DB_USER=" + pg.User, "DB_PASSWORD=" + pg.Password, "DB_DATABASE=" + db, "DB_OWNER=" + pg.User}
		}
		scratchEnv := []string{"SCRATCH_HOST=" + scratch.Host, "SCRATCH_PORT=" + strconv.Itoa(scratch.Port),
			"SCRATCH_USER=" + scratch.User, "SCRATCH_PASSWORD_FILE=" + scratchPasswordFile(b, scratch.Password)}
		comparePublish(b, size, script, on(live), on(scratch), scratchEnv)
	})
	b.Run("mysql", func(b *testing.B) {
		live := testenv.StartMariaDB(b, "--innodb-buffer-pool-size=1G", "--innodb-log-file-size=512M")
		scratch := testenv.StartMariaDB(b, "--innodb-buffer-pool-size=1G", "--innodb-log-file-size=512M")
		size := generateBenchSchema(b, live, db)
		script := filepath.Join(b.TempDir(), "sanitise.sql")
		os.WriteFile(script, []byte("UPDATE orders SET email = CONCAT('user', id, '@example.invalid');\n"), 0o644)
		on := func(m *testenv.MariaDB) []string {
			return []string{"DB_ENGINE=mysql", "DB_HOST=" + m.Host, "DB_PORT=" + strconv.Itoa(m.Port),
				"DB_USER=" + m.User, "DB_PASSWORD=" + m.Password, "DB_DATABASE=" + db}
		}
		scratchEnv := []string{"SCRATCH_HOST=" + scratch.Host, "SCRATCH_PORT=" + strconv.Itoa(scratch.Port),
			"SCRATCH_USER=" + scratch.User, "SCRATCH_PASSWORD_FILE=" + scratchPasswordFile(b, scratch.Password)}
		comparePublish(b, size, script, on(live), on(scratch), scratchEnv)
	})
}

// comparePublish measures backup, sanitising restore into the scratch and
// backup of the scratch, then the publish doing the same in one run.
func comparePublish(b *testing.B, size int64, script string, live, scratch, scratchEnv []string) {
	s3srv := testenv.StartS3(b)
	s3srv.CreateBucket(b, "live")
	s3srv.CreateBucket(b, "scratch")
	s3srv.CreateBucket(b, "published")
	bin := envsyncBinary(b)
	env := func(db []string, extra ...string) []string {
		e := append(append(os.Environ(), s3srv.Env()...), db...)
		return append(append(e, "DB_INSTANCE=bench", "ENVSYNC_SHRINK_FRACTION=0"), extra...)
	}
	b.ResetTimer()
	for range b.N {
		backup := measure(b, env(live, "BUCKET=s3://live", "ENVIRONMENT=production"), bin, "run", "backup")
		restore := measure(b, env(scratch, "BUCKET=s3://live", "ENVIRONMENT=scratch", "SANITISE_SCRIPT="+script), bin, "run", "restore")
		again := measure(b, env(scratch, "BUCKET=s3://scratch", "ENVIRONMENT=scratch"), bin, "run", "backup")
		publish := measure(b, env(live, append(scratchEnv, "BUCKET=s3://published", "ENVIRONMENT=production", "SANITISE_SCRIPT="+script)...), bin, "run", "publish")
		three := backup.wall + restore.wall + again.wall
		b.Logf("backup %s + sanitising restore into the scratch %s + backup of the scratch %s = %s; publish %s (peak RSS %d MiB)",
			backup.wall.Round(time.Millisecond), restore.wall.Round(time.Millisecond), again.wall.Round(time.Millisecond),
			three.Round(time.Millisecond), publish.wall.Round(time.Millisecond), publish.peak>>20)
		b.ReportMetric(publish.wall.Seconds()/three.Seconds(), "publish-time/backup+restore+backup")
		b.ReportMetric(publish.cpu.Seconds()/(backup.cpu+restore.cpu+again.cpu).Seconds(), "publish-cpu/backup+restore+backup")
		publish.report(b, "publish", size)
		b.ReportMetric(float64(publish.peak)/(1<<20), "publish-peak-RSS-MiB")
	}
}
