package gen_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/declare/declaretest"

	"github.com/envsync/envsync/check"
	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/gen"
)

// synthetic writes n syncs shaped like the example's rows (a nightly
// production backup, a weekday staging restore, a Monday integration
// restore; one in four sanitised, one in five MySQL) in files of 50.
func synthetic(b *testing.B, n int) string {
	b.Helper()
	dir := declaretest.CopyEstate(b, false)
	for f := 0; f*50 < n; f++ {
		var s strings.Builder
		s.WriteString("package syncs\n")
		for i := f * 50; i < min(n, (f+1)*50); i++ {
			engine := "postgres"
			if i%5 == 0 {
				engine = "mysql"
			}
			m := i % 60
			integration := fmt.Sprintf(`integration: at: "03:%02d"`, m)
			personal := "\n\tpersonalData: false"
			if i%4 == 0 {
				integration = fmt.Sprintf(`integration: {at: "03:%02d", sanitise: "syncs/sanitise/chat.sql"}`, m)
				personal = ""
			}
			fmt.Fprintf(&s, `
syncs: "app-%04d-%s": {
	engine:   %q
	database: "app_%04d_production"%s
	environments: {
		production: at: "22:%02d"
		staging: at:    "01:%02d"
		%s
	}
}
`, i, engine, engine, i, personal, m, m, integration)
		}
		if err := os.WriteFile(filepath.Join(dir, "syncs", fmt.Sprintf("apps-%02d.cue", f)), []byte(s.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// envsyncGen is what `envsync gen` does: load, check, generate, write.
func envsyncGen(b *testing.B, root string) int {
	b.Helper()
	e, err := declare.Load(root)
	if err != nil {
		b.Fatal(err)
	}
	if err := check.Estate(e).Err(); err != nil {
		b.Fatal(err)
	}
	files, err := gen.Generate(e)
	if err != nil {
		b.Fatal(err)
	}
	if err := gen.Write(root, files); err != nil {
		b.Fatal(err)
	}
	return len(e.Syncs)
}

// fastest runs f rounds times and returns the shortest time: on a shared
// machine the minimum is the measurement least disturbed by other work.
func fastest(rounds int, f func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range rounds {
		start := time.Now()
		f()
		best = min(best, time.Since(start))
	}
	return best
}

// BenchmarkGen times envsync gen on the example estate (the baseline) and
// on a synthetic estate of 1,000 syncs, per sync, and reports the ratio of
// the two per-sync times. The example carries more fixed cost per sync (a
// schema and three environments for 27 syncs), so growth is also shown on
// one shape: 1,000 synthetic syncs beside 100, per sync (1 is linear).
func BenchmarkGen(b *testing.B) {
	example := declaretest.CopyEstate(b, true)
	small := synthetic(b, 100)
	big := synthetic(b, 1000)
	var exampleTime, smallTime, bigTime time.Duration
	var exampleSyncs, smallSyncs, bigSyncs int
	for b.Loop() {
		exampleTime += fastest(5, func() { exampleSyncs = envsyncGen(b, example) })
		smallTime += fastest(3, func() { smallSyncs = envsyncGen(b, small) })
		bigTime += fastest(2, func() { bigSyncs = envsyncGen(b, big) })
	}
	per := func(d time.Duration, syncs int) float64 { return float64(d.Microseconds()) / float64(b.N*syncs) }
	b.ReportMetric(float64(exampleTime.Milliseconds())/float64(b.N), "example-ms")
	b.ReportMetric(float64(bigTime.Milliseconds())/float64(b.N), "1000syncs-ms")
	b.ReportMetric(per(exampleTime, exampleSyncs), "example-µs/sync")
	b.ReportMetric(per(bigTime, bigSyncs), "1000syncs-µs/sync")
	b.ReportMetric(per(bigTime, bigSyncs)/per(exampleTime, exampleSyncs), "1000/example-per-sync")
	b.ReportMetric(per(bigTime, bigSyncs)/per(smallTime, smallSyncs), "1000/100-per-sync")
}

// BenchmarkGenBesideHelmTemplate times envsync gen on the example estate
// beside the baseline `helm template chart/envsync -f out/<env>/values.yaml`
// for every environment (rendering the same CronJobs), and reports the
// ratio gen/helm.
func BenchmarkGenBesideHelmTemplate(b *testing.B) {
	root := declaretest.CopyEstate(b, true)
	repo, _ := declare.FindRoot(".")
	chart := filepath.Join(repo, "chart", "envsync")
	helm := helmBinary(b)
	envsyncGen(b, root)
	values, _ := filepath.Glob(filepath.Join(root, "out", "*", "values.yaml"))
	if len(values) == 0 {
		b.Fatal("no values.yaml generated")
	}
	var genTime, helmTime time.Duration
	for b.Loop() {
		genTime += fastest(5, func() { envsyncGen(b, root) })
		helmTime += fastest(5, func() {
			for _, v := range values {
				if out, err := exec.Command(helm, "template", "envsync", chart, "-f", v).CombinedOutput(); err != nil {
					b.Fatalf("helm template -f %s: %v\n%s", v, err, out)
				}
			}
		})
	}
	b.ReportMetric(float64(genTime.Milliseconds())/float64(b.N), "gen-ms")
	b.ReportMetric(float64(helmTime.Milliseconds())/float64(b.N), "helm-template-ms")
	b.ReportMetric(float64(genTime)/float64(helmTime), "gen/helm")
}

// helmBinary is the helm make tools installs ($(go env GOPATH)/bin/helm).
func helmBinary(b *testing.B) string {
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		b.Fatalf("go env GOPATH: %v", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		b.Fatalf("helm is not installed at %s: run make tools (go install helm.sh/helm/v3/cmd/helm@v3.22.0)", bin)
	}
	return bin
}
