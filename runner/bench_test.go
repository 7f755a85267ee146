package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/envsync/envsync/runner"
	"github.com/envsync/envsync/runner/engine/mysql"
	"github.com/envsync/envsync/runner/engine/postgres"
	"github.com/envsync/envsync/runner/storage"
	"github.com/envsync/envsync/testenv"
)

// asRunner makes the test binary run one operation like `envsync run` (see
// TestMain): benchmarks measure the runner as its own process without
// depending on the whole command building.
const asRunner = "ENVSYNC_TEST_AS_RUNNER"

func TestMain(m *testing.M) {
	if op := os.Getenv(asRunner); op != "" {
		os.Exit(runAsRunner(op))
	}
	os.Exit(m.Run())
}

func runAsRunner(op string) int {
	if path := os.Getenv("ENVSYNC_TEST_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	cfg, err := runner.FromEnv(os.Getenv)
	if err == nil {
		var r *runner.Runner
		ctx := context.Background()
		r, err = runner.Open(ctx, op, cfg, map[string]runner.EngineFactory{"postgres": postgres.New, "mysql": mysql.New}, runner.NewLogger(cfg))
		if err == nil {
			err = r.Run(ctx, op, nil)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "envsync:", err)
		return 1
	}
	return 0
}

// benchMB is the size of the generated table (ENVSYNC_BENCH_MB, default 512).
func benchMB(b *testing.B) int {
	if v := os.Getenv("ENVSYNC_BENCH_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("ENVSYNC_BENCH_MB %q: %v", v, err)
		}
		return n
	}
	return 512
}

// run runs cmd and returns its wall time and peak resident memory in MiB
// (Linux reports the largest of the process and the children it reaped).
func run(b *testing.B, cmd *exec.Cmd) (time.Duration, float64) {
	b.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // stdout: /dev/null
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v\n%s", cmd.Path, err, stderr.Bytes())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	b.Logf("%s: %.1fs wall, %.1fs user, %.1fs system, %d MiB peak", filepath.Base(cmd.Path), wall.Seconds(),
		time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(), ru.Maxrss/1024)
	return wall, float64(ru.Maxrss) / 1024
}

// BenchmarkBackupPeakMemory runs `envsync run backup` as its own process
// against a generated database and versitygw, beside the limit
// `pg_dump -Fc -Z0 > /dev/null`, and reports the runner's peak memory (which
// must not grow with the database: the upload's part buffers, zstd's window
// and the binary's code) and the wall-time ratio.
func BenchmarkBackupPeakMemory(b *testing.B) {
	mb := benchMB(b)
	bin, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	s3 := testenv.StartS3(b)
	s3.CreateBucket(b, "bench")
	pg := testenv.StartPostgres(b)
	pg.Exec(b, "postgres", "CREATE DATABASE bench")
	rows := mb << 20 / 170
	pg.Exec(b, "bench", `CREATE TABLE t (id int, a text, b text);
		INSERT INTO t SELECT i, md5(i::text)||md5((i+1)::text), md5((i*3)::text)||md5((i*5)::text)
		FROM generate_series(1, `+strconv.Itoa(rows)+`) i;`)

	pgDump := testenv.LookPath(b, "pg_dump", "apt-get install postgresql-client", "/usr/lib/postgresql/*/bin")
	var dumpWall, runWall time.Duration
	var dumpRSS, runRSS float64
	for i := 0; i < b.N; i++ {
		dump := exec.Command(pgDump, "-Fc", "-Z0")
		dump.Env = pg.Env("bench")
		w, rss := run(b, dump)
		dumpWall += w
		dumpRSS = max(dumpRSS, rss)

		backup := exec.Command(bin, "-test.run=^$")
		backup.Env = append(os.Environ(), s3.Env()...)
		backup.Env = append(backup.Env, asRunner+"=backup", "ENVSYNC_TEST_CPUPROFILE="+os.Getenv("ENVSYNC_BENCH_CPUPROFILE"))
		backup.Env = append(backup.Env,
			"PATH="+filepath.Dir(pgDump)+":"+os.Getenv("PATH"),
			"DB_ENGINE=postgres", "DB_HOST="+pg.Host, "DB_PORT="+strconv.Itoa(pg.Port),
			"DB_USER="+pg.User, "DB_PASSWORD="+pg.Password, "DB_DATABASE=bench",
			"DB_INSTANCE=bench-postgres", "BUCKET=s3://bench", "HOSTNAME=bench-pod")
		w, rss = run(b, backup)
		runWall += w
		runRSS = max(runRSS, rss)
	}
	budget := float64(storage.S3Options{}.BufferBytes()) / (1 << 20)
	b.ReportMetric(float64(mb), "db_MiB")
	b.ReportMetric(runRSS, "runner_peak_MiB")
	b.ReportMetric(runRSS/budget, "peak_vs_part_buffers")
	b.ReportMetric(dumpRSS, "pg_dump_Z0_peak_MiB")
	b.ReportMetric(runWall.Seconds()/dumpWall.Seconds(), "backup_vs_pg_dump_Z0_devnull")
}
