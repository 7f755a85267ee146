package main

import (
	"strings"
	"testing"
)

const output = `goos: linux
pkg: github.com/envsync/envsync/runner
    postgres_bench_test.go:90: backup: envsync 9.1s
BenchmarkPostgreSQLAgainstTheShellPipelines-2   	       1	92000000000 ns/op	         0.71 backup-time/shell	         8.50 envsync-restore-cpu-s/GiB	        61.0 peak-RSS-MiB	         0.85 restore-time/shell
PASS
pkg: github.com/envsync/envsync/compress
BenchmarkZstd-2   	       3	12 ns/op	         1.20 ratio-vs/gzip
`

func TestTableHasEveryMetricRatiosFirstAndNoTimePerOp(t *testing.T) {
	rows, err := read(strings.NewReader(output), "output")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := write(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{"backup-time/shell", "restore-time/shell", "ratio-vs/gzip", "envsync-restore-cpu-s/GiB", "peak-RSS-MiB"}
	if len(lines) != len(want)+1 {
		t.Fatalf("table:\n%s\nwant a header and %d rows", b.String(), len(want))
	}
	for i, unit := range want {
		if !strings.Contains(lines[i+1], unit) {
			t.Errorf("row %d is %q, want %s", i+1, lines[i+1], unit)
		}
	}
	if strings.Contains(b.String(), "sec/op") || !strings.Contains(lines[1], "PostgreSQLAgainstTheShellPipelines-2") || !strings.Contains(lines[1], "0.71") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestNoResultsIsAnError(t *testing.T) {
	rows, _ := read(strings.NewReader("PASS\n"), "output")
	if err := write(&strings.Builder{}, rows); err == nil {
		t.Error("an output without results gave a table")
	}
}
