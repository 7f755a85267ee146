package runner_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"testing"

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
		r, err = runner.Open(ctx, op, cfg, runner.Engines{Streaming: map[string]runner.EngineFactory{"postgres": postgres.New, "mysql": mysql.New}}, runner.NewLogger(cfg))
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
	var dump, backup cost
	for i := 0; i < b.N; i++ {
		dump = measure(b, pg.Env("bench"), pgDump, "-Fc", "-Z0", "-f", "/dev/null")
		env := append(os.Environ(), s3.Env()...)
		env = append(env, asRunner+"=backup", "ENVSYNC_TEST_CPUPROFILE="+os.Getenv("ENVSYNC_BENCH_CPUPROFILE"),
			"PATH="+filepath.Dir(pgDump)+":"+os.Getenv("PATH"),
			"DB_ENGINE=postgres", "DB_HOST="+pg.Host, "DB_PORT="+strconv.Itoa(pg.Port),
			"DB_USER="+pg.User, "DB_PASSWORD="+pg.Password, "DB_DATABASE=bench",
			"DB_INSTANCE=bench-postgres", "BUCKET=s3://bench", "HOSTNAME=bench-pod")
		backup = measure(b, env, bin, "-test.run=^$")
	}
	budget := float64(storage.S3Options{}.BufferBytes()) / (1 << 20)
	runRSS := float64(backup.peak) / (1 << 20)
	b.ReportMetric(float64(mb), "db_MiB")
	b.ReportMetric(runRSS, "runner_peak_MiB")
	b.ReportMetric(runRSS/budget, "peak_vs_part_buffers")
	b.ReportMetric(float64(dump.peak)/(1<<20), "pg_dump_Z0_peak_MiB")
	b.ReportMetric(backup.wall.Seconds()/dump.wall.Seconds(), "backup_vs_pg_dump_Z0_devnull")
	b.ReportMetric(backup.cpu.Seconds()/dump.cpu.Seconds(), "backup_cpu_vs_pg_dump_Z0_devnull")
}
