package kube_test

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/gen/kube"
	"github.com/envsync/envsync/model"
)

// chartDrift renders valuesFile with the real helm and compares every
// object with the Go rendering; it returns "" when they are semantically
// equal, else a readable diff.
func chartDrift(t *testing.T, valuesFile string, want []batchv1.CronJob, wantCM *corev1.ConfigMap, wantSA *corev1.ServiceAccount) string {
	t.Helper()
	got := helmTemplate(t, valuesFile)
	var drift []string
	if len(got.CronJobs) != len(want) {
		drift = append(drift, "CronJobs: the chart rendered "+names(got.CronJobs)+", Go built "+names(want))
	}
	for i := 0; i < len(want) && i < len(got.CronJobs); i++ {
		w, g := canonical(t, want[i]), canonical(t, got.CronJobs[i])
		if w != g {
			drift = append(drift, "CronJob "+want[i].Name+":\n"+lineDiff(w, g))
		}
	}
	switch {
	case wantCM == nil && len(got.ConfigMaps) != 0:
		drift = append(drift, "the chart rendered a ConfigMap, Go built none")
	case wantCM != nil && len(got.ConfigMaps) != 1:
		drift = append(drift, "Go built one ConfigMap, the chart rendered "+string(rune('0'+len(got.ConfigMaps))))
	case wantCM != nil:
		if w, g := canonical(t, *wantCM), canonical(t, got.ConfigMaps[0]); w != g {
			drift = append(drift, "ConfigMap:\n"+lineDiff(w, g))
		}
	}
	switch {
	case wantSA == nil && len(got.ServiceAccounts) != 0:
		drift = append(drift, "the chart rendered a ServiceAccount, Go built none")
	case wantSA != nil && len(got.ServiceAccounts) != 1:
		drift = append(drift, "Go built one ServiceAccount, the chart rendered "+string(rune('0'+len(got.ServiceAccounts))))
	case wantSA != nil:
		if w, g := canonical(t, *wantSA), canonical(t, got.ServiceAccounts[0]); w != g {
			drift = append(drift, "ServiceAccount:\n"+lineDiff(w, g))
		}
	}
	return strings.Join(drift, "\n")
}

func names(cjs []batchv1.CronJob) string {
	var n []string
	for _, cj := range cjs {
		n = append(n, cj.Name)
	}
	return "[" + strings.Join(n, " ") + "]"
}

// assertChartMatchesGo is the key property, per environment: helm template
// of the chart with the generated values gives exactly the Go objects, and
// helm lint --strict accepts the values.
func assertChartMatchesGo(t *testing.T, e *model.Estate) {
	t.Helper()
	for _, env := range e.Environments {
		t.Run(env.Name, func(t *testing.T) {
			v, err := kube.Values(e, env.Name)
			if err != nil {
				t.Fatal(err)
			}
			cjs, err := kube.CronJobs(e, env.Name)
			if err != nil {
				t.Fatal(err)
			}
			cm, err := kube.ScriptsConfigMap(e, env.Name)
			if err != nil {
				t.Fatal(err)
			}
			sa, err := kube.ServiceAccountObject(e, env.Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(cjs) == 0 {
				t.Fatalf("no CronJobs in %s: the comparison would prove nothing", env.Name)
			}
			file := writeValues(t, v)
			if drift := chartDrift(t, file, cjs, cm, sa); drift != "" {
				t.Errorf("helm template of chart/envsync differs from kube.CronJobs/ScriptsConfigMap in %s:\n%s", env.Name, drift)
			}
			helm(t, "lint", "--strict", chartDir, "--values", file)
		})
	}
}

func TestTheChartRendersExactlyTheGoObjectsForEveryEnvironment(t *testing.T) {
	assertChartMatchesGo(t, testEstate(t))
}

// The comparison is only worth something if it notices a difference: change
// one field of the values behind Go's back and it must report it.
func TestTheChartComparisonNoticesADriftInTheValues(t *testing.T) {
	e := testEstate(t)
	v, err := kube.Values(e, "staging")
	if err != nil {
		t.Fatal(err)
	}
	cjs, err := kube.CronJobs(e, "staging")
	if err != nil {
		t.Fatal(err)
	}
	cm, err := kube.ScriptsConfigMap(e, "staging")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kube.ServiceAccountObject(e, "staging")
	if err != nil || sa == nil {
		t.Fatalf("no ServiceAccount in staging: %v", err)
	}
	v.Jobs[0].Containers[0].Bucket = "s3://somewhere-else"
	v.Scripts.Files["whitehall.sql"] = "SELECT 'tampered';\n"
	v.ServiceAccount.Annotations["eks.amazonaws.com/role-arn"] = "arn:aws:iam::000000000000:role/elsewhere"
	drift := chartDrift(t, writeValues(t, v), cjs, cm, sa)
	for _, want := range []string{
		"CronJob " + v.Jobs[0].Name + ":",
		"\n-               value: s3://test-production-database-backups\n",
		"\n+               value: s3://somewhere-else\n",
		"ConfigMap:",
		"\n+     SELECT 'tampered';\n",
		"ServiceAccount:",
		"role/elsewhere",
	} {
		if !strings.Contains(drift, want) {
			t.Errorf("the drift report lacks %q:\n%s", want, drift)
		}
	}
}

// values.schema.json makes a misspelled field an error, not a silent
// default.
func TestTheChartRejectsValuesWithAMisspelledField(t *testing.T) {
	v, err := kube.Values(testEstate(t), "staging")
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	job := m["jobs"].([]any)[0].(map[string]any)
	job["schedul"] = job["schedule"]
	delete(job, "schedule")
	_, err = runHelm(t, "lint", "--strict", chartDir, "--values", writeValues(t, m))
	if err == nil || !strings.Contains(err.Error(), "schedul") {
		t.Fatalf("helm lint accepted a job with schedul instead of schedule: %v", err)
	}
}
