package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/model/modeltest"
)

// scaled is the modeltest estate with every sync copied n times under new
// instance names.
func scaled(n int) *model.Estate {
	e := modeltest.Estate()
	base := e.Syncs
	e.Syncs = nil
	for i := range n {
		for _, s := range base {
			s.Name = fmt.Sprintf("%s-%d", s.Name, i)
			s.Instance = fmt.Sprintf("%s-%d", s.Instance, i)
			e.Syncs = append(e.Syncs, s)
		}
	}
	return e
}

// BenchmarkBuild builds the staging rules and tests of the modeltest estate
// (the baseline) and of a copy 100 times its size, in the same run, and
// reports the time per sync of each and their ratio (1 means linear growth).
func BenchmarkBuild(b *testing.B) {
	small, large := scaled(1), scaled(100)
	var tSmall, tLarge time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := Build(small, "staging"); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := Build(large, "staging"); err != nil {
			b.Fatal(err)
		}
		tSmall += mid.Sub(start)
		tLarge += time.Since(mid)
	}
	perSmall := float64(tSmall.Nanoseconds()) / float64(b.N) / float64(len(small.Syncs))
	perLarge := float64(tLarge.Nanoseconds()) / float64(b.N) / float64(len(large.Syncs))
	b.ReportMetric(perSmall, "ns/sync_1x")
	b.ReportMetric(perLarge, "ns/sync_100x")
	b.ReportMetric(perLarge/perSmall, "growth_ratio")
}
