package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/envsync/envsync/testenv"
)

// BenchmarkPrimaryKeyBuildMemory builds the primary key of pgbench's
// accounts at scale 70 (7 million rows), as a restore's post-data section
// does, with the server's default maintenance_work_mem (64MB) and with
// 256MB, which the restore's sessions used to set, each in turn three
// times, and reports 256MB's time against the default's. More memory sorts
// in one run instead of merging several, and is slower here.
func BenchmarkPrimaryKeyBuildMemory(b *testing.B) {
	pg := testenv.StartPostgres(b)
	pg.CreatePGBench(b, "bench", 70)
	c := pg.Connect(b, "bench")
	ctx := context.Background()
	build := func(mem string) time.Duration {
		for _, sql := range []string{
			"ALTER TABLE pgbench_accounts DROP CONSTRAINT pgbench_accounts_pkey",
			"SET maintenance_work_mem = '" + mem + "'",
		} {
			if _, err := c.Exec(ctx, sql); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		if _, err := c.Exec(ctx, "ALTER TABLE pgbench_accounts ADD CONSTRAINT pgbench_accounts_pkey PRIMARY KEY (aid)"); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	b.ResetTimer()
	for range b.N {
		var def, big time.Duration
		for range 3 {
			def += build("64MB")
			big += build("256MB")
		}
		b.ReportMetric(big.Seconds()/def.Seconds(), "256MB-time/64MB")
	}
}
