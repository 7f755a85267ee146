package runner_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/testenv"
)

// BenchmarkPersonalDataGateBesideTheRestoreItGuards restores the benchmark
// database (more than 1 GiB at the default scale) with a sanitise script,
// first without the gate, then with it, from the same dump in one run, and
// reports the gate's cost as a fraction of the restore's wall time. The
// classification marks documents.title personal (the script rewrites it):
// the gate fingerprints that column twice (two scans of its table) and
// samples every text column (10,000 rows each).
func BenchmarkPersonalDataGateBesideTheRestoreItGuards(b *testing.B) {
	const db = "bench"
	pg, dst := testenv.StartPostgres(b), testenv.StartPostgres(b)
	s3srv := testenv.StartS3(b)
	bucket := s3srv.CreateBucket(b, "gate-bench")
	bin := envsyncBinary(b)
	size := generatePGBench(b, pg, db, pgBenchScale())
	env := func(pg *testenv.Postgres, extra ...string) []string {
		return append(append(append(os.Environ(), s3srv.Env()...), "PATH="+pg.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"),
			"DB_ENGINE=postgres", "DB_HOST="+pg.Host, "DB_PORT="+strconv.Itoa(pg.Port),
			"DB_USER="+pg.User, "DB_PASSWORD="+pg.Password, "DB_DATABASE="+db, "DB_OWNER="+pg.User,
			"DB_INSTANCE=bench-postgres", "BUCKET="+s3srv.URL(bucket), "ENVIRONMENT=integration"), extra...)
	}
	measure(b, env(pg), bin, "run", "backup")

	dir := b.TempDir()
	script := filepath.Join(dir, "sanitise.sql")
	os.WriteFile(script, []byte("UPDATE documents SET title = 'Document ' || md5(id::text);\n"), 0o644)
	c := contract.Classification{Sync: "bench-postgres", Declared: "bench", Tables: map[string]map[string]string{
		"pgbench_accounts": {"aid": "public", "bid": "public", "abalance": "public", "filler": "public"},
		"pgbench_branches": {"bid": "public", "bbalance": "public", "filler": "public"},
		"pgbench_tellers":  {"tid": "public", "bid": "public", "tbalance": "public", "filler": "public"},
		"pgbench_history":  {"tid": "public", "bid": "public", "aid": "public", "delta": "public", "mtime": "public", "filler": "public"},
		"documents":        {"id": "public", "title": "personal", "body": "public"},
	}}
	policy, _ := json.Marshal(c)
	classification := filepath.Join(dir, "classification.json")
	os.WriteFile(classification, policy, 0o644)

	b.ResetTimer()
	for range b.N {
		var plain, gated time.Duration
		for range 2 { // each in turn, twice: the server's state drifts
			m := measure(b, env(dst, "SANITISE_SCRIPT="+script), bin, "run", "restore")
			plain += m.wall
			b.Log("where the plain restore's time goes: " + timeline(m.out))
			m = measure(b, env(dst, "SANITISE_SCRIPT="+script, "CLASSIFICATION="+classification), bin, "run", "restore")
			gated += m.wall
			b.Log("where the gated restore's time goes: " + timeline(m.out))
		}
		b.Logf("sanitising restore of %d MiB: %s without the gate, %s with it (two runs each)", size>>20, plain.Round(time.Millisecond), gated.Round(time.Millisecond))
		b.ReportMetric(gated.Seconds()/plain.Seconds(), "gated-restore-time/restore")
		b.ReportMetric((gated-plain).Seconds()/plain.Seconds(), "gate-cost/restore")
	}
}
