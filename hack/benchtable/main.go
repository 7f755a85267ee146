// Command benchtable reads the output of `go test -bench` and prints one
// table of what every benchmark reported beside its baseline: the ratios
// first (a unit "x/y", envsync's cost over the baseline's), then CPU-seconds
// per GiB, then the rest (peak memory, seconds). `make bench` runs it on
// the whole run's output.
//
// Usage: benchtable [file]   (standard input without a file)
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchfmt"
)

func main() {
	in, name := io.Reader(os.Stdin), "stdin"
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		defer f.Close()
		in, name = f, os.Args[1]
	}
	rows, err := read(in, name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if err := write(os.Stdout, rows); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

// row is one metric one benchmark reported.
type row struct {
	benchmark, unit string
	value           float64
}

// kind orders rows: ratios, then CPU per GiB, then the rest.
func (r row) kind() int {
	switch {
	case strings.HasSuffix(r.unit, "/GiB"):
		return 1
	case strings.Contains(r.unit, "/"):
		return 0
	default:
		return 2
	}
}

// read collects every custom metric of every benchmark result, in the
// order reported; go test's own sec/op is left out (a benchmark of one
// iteration times its setup too).
func read(in io.Reader, name string) ([]row, error) {
	var rows []row
	r := benchfmt.NewReader(in, name)
	for r.Scan() {
		res, ok := r.Result().(*benchfmt.Result)
		if !ok {
			continue // unit metadata, or a line that is not a result
		}
		for _, v := range res.Values {
			if v.Unit == "sec/op" {
				continue
			}
			rows = append(rows, row{benchmark: res.Name.String(), unit: v.Unit, value: v.Value})
		}
	}
	return rows, r.Err()
}

func write(w io.Writer, rows []row) error {
	if len(rows) == 0 {
		return fmt.Errorf("no benchmark results")
	}
	slices.SortStableFunc(rows, func(a, b row) int { return a.kind() - b.kind() })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BENCHMARK\tMEASURE\tVALUE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%.3g\n", strings.TrimPrefix(r.benchmark, "Benchmark"), r.unit, r.value)
	}
	return tw.Flush()
}
