package pgscript_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/engine/postgres/pgscript"
	"github.com/envsync/envsync/testenv"
)

// BenchmarkSessions loads the script of a pgbench database of about 300 MiB
// (its rows in memory already, so that the client costs next to nothing)
// with psql, then with Run on one and on two sessions, and reports each
// load's time against psql's: how the load scales when the server has the
// machine's cores to itself, as a database server beside a runner pod does.
func BenchmarkSessions(b *testing.B) {
	pg := testenv.StartPostgres(b)
	pg.CreatePGBench(b, "src", 20)
	script := restoreScript(b, pg, "src")
	n := 0
	load := func(sessions int) time.Duration {
		n++
		db := fmt.Sprintf("dst%d", n)
		pg.Exec(b, "postgres", "CREATE DATABASE "+db)
		pg.Exec(b, "postgres", "CHECKPOINT")
		start := time.Now()
		if sessions == 0 {
			psql := exec.Command(pg.Tool("psql"), "-q", "-v", "ON_ERROR_STOP=1")
			psql.Env = pg.Env(db)
			psql.Stdin = bytes.NewReader(script)
			if out, err := psql.CombinedOutput(); err != nil {
				b.Fatalf("psql: %v\n%s", err, out)
			}
		} else if err := pgscript.Run(context.Background(), bytes.NewReader(script), sessionsOf(b, pg, db, sessions)); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		pg.Exec(b, "postgres", "DROP DATABASE "+db+" WITH (FORCE)")
		return took
	}
	b.ResetTimer()
	for range b.N {
		var psql, one, two time.Duration
		for range 2 { // each in turn, twice: the server's state drifts
			psql += load(0)
			one += load(1)
			two += load(2)
		}
		b.ReportMetric(one.Seconds()/psql.Seconds(), "one-session-time/psql")
		b.ReportMetric(two.Seconds()/psql.Seconds(), "two-sessions-time/psql")
		b.ReportMetric(two.Seconds()/one.Seconds(), "two-sessions-time/one")
	}
}
