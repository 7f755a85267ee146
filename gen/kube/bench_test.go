package kube_test

import (
	"testing"
	"time"

	"github.com/envsync/envsync/gen/kube"
)

// BenchmarkCronJobsBesideHelmTemplate builds the example estate's CronJobs
// in Go and, as the baseline, renders the same CronJobs with the real
// `helm template` from the generated values; it reports both per
// environment and their ratio.
func BenchmarkCronJobsBesideHelmTemplate(b *testing.B) {
	e := exampleEstate(b)
	files := map[string]string{}
	for _, env := range e.Environments {
		v, err := kube.Values(e, env.Name)
		if err != nil {
			b.Fatal(err)
		}
		files[env.Name] = writeValues(b, v)
	}
	const goRounds = 20 // Go is fast: repeat it to measure it
	var goTime, helmTime time.Duration
	for b.Loop() {
		start := time.Now()
		for range goRounds {
			for _, env := range e.Environments {
				if _, err := kube.CronJobs(e, env.Name); err != nil {
					b.Fatal(err)
				}
				if _, err := kube.ScriptsConfigMap(e, env.Name); err != nil {
					b.Fatal(err)
				}
			}
		}
		goTime += time.Since(start) / goRounds
		start = time.Now()
		for _, env := range e.Environments {
			helmTemplate(b, files[env.Name])
		}
		helmTime += time.Since(start)
	}
	envs := float64(len(e.Environments) * b.N)
	b.ReportMetric(float64(goTime.Microseconds())/envs, "go-µs/env")
	b.ReportMetric(float64(helmTime.Microseconds())/envs, "helm-µs/env")
	b.ReportMetric(float64(helmTime)/float64(goTime), "helm/go")
}
