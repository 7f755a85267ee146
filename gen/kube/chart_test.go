package kube_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/gen/kube"
	"github.com/envsync/envsync/model"
)

// chartDrift renders valuesFile with the real helm and compares every
// object with the Go rendering; it returns "" when they are semantically
// equal, else a readable diff.
func chartDrift(t *testing.T, valuesFile string, want rendered) string {
	t.Helper()
	got := helmTemplate(t, valuesFile)
	var drift []string
	drift = append(drift, listDrift(t, "CronJob", want.CronJobs, got.CronJobs)...)
	drift = append(drift, listDrift(t, "ConfigMap", want.ConfigMaps, got.ConfigMaps)...)
	drift = append(drift, listDrift(t, "ServiceAccount", want.ServiceAccounts, got.ServiceAccounts)...)
	drift = append(drift, listDrift(t, "ExternalSecret", want.ExternalSecrets, got.ExternalSecrets)...)
	return strings.Join(drift, "\n")
}

// listDrift compares the objects of one kind, in order.
func listDrift[T any](t *testing.T, kind string, want, got []T) []string {
	var drift []string
	if len(got) != len(want) {
		drift = append(drift, fmt.Sprintf("%s: the chart rendered %d, Go built %d", kind, len(got), len(want)))
	}
	for i := 0; i < len(want) && i < len(got); i++ {
		w, g := canonical(t, want[i]), canonical(t, got[i])
		if w != g {
			drift = append(drift, kind+" "+objectName(w)+":\n"+lineDiff(w, g))
		}
	}
	return drift
}

// objectName is the metadata.name of an object as canonical YAML.
func objectName(canonicalYAML string) string {
	var o struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	_ = yaml.Unmarshal([]byte(canonicalYAML), &o)
	return o.Metadata.Name
}

// goRendering is what kube builds for env, kind by kind.
func goRendering(t *testing.T, e *model.Estate, env string) rendered {
	t.Helper()
	v, err := kube.Values(e, env)
	if err != nil {
		t.Fatal(err)
	}
	o := kube.Render(v)
	r := rendered{CronJobs: o.CronJobs, ExternalSecrets: o.ExternalSecrets}
	if o.Scripts != nil {
		r.ConfigMaps = []corev1.ConfigMap{*o.Scripts}
	}
	if o.ServiceAccount != nil {
		r.ServiceAccounts = []corev1.ServiceAccount{*o.ServiceAccount}
	}
	return r
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
			want := goRendering(t, e, env.Name)
			if len(want.CronJobs) == 0 {
				t.Fatalf("no CronJobs in %s: the comparison would prove nothing", env.Name)
			}
			file := writeValues(t, v)
			if drift := chartDrift(t, file, want); drift != "" {
				t.Errorf("helm template of chart/envsync differs from the Go rendering in %s:\n%s", env.Name, drift)
			}
			helm(t, "lint", "--strict", chartDir, "--values", file)
		})
	}
}

func TestTheChartRendersExactlyTheGoObjectsForEveryEnvironment(t *testing.T) {
	assertChartMatchesGo(t, testEstate(t))
}

func TestTheChartRendersSearchJobsExactlyAsGoDoes(t *testing.T) {
	assertChartMatchesGo(t, withSearch(testEstate(t)))
}

// The comparison is only worth something if it notices a difference: change
// one field of the values behind Go's back and it must report it.
func TestTheChartComparisonNoticesADriftInTheValues(t *testing.T) {
	e := testEstate(t)
	v, err := kube.Values(e, "staging")
	if err != nil {
		t.Fatal(err)
	}
	want := goRendering(t, e, "staging")
	if len(want.ServiceAccounts) == 0 || len(want.ExternalSecrets) == 0 {
		t.Fatal("no ServiceAccount or ExternalSecret in staging: the comparison would prove nothing")
	}
	v.Jobs[0].Containers[0].Bucket = "s3://somewhere-else"
	v.Scripts.Files["whitehall.sql"] = "SELECT 'tampered';\n"
	v.ServiceAccount.Annotations["eks.amazonaws.com/role-arn"] = "arn:aws:iam::000000000000:role/elsewhere"
	v.ExternalSecrets.Secrets[0].RemoteKey = "somewhere/else"
	drift := chartDrift(t, writeValues(t, v), want)
	for _, want := range []string{
		"CronJob " + v.Jobs[0].Name + ":",
		"\n-               value: s3://test-production-database-backups\n",
		"\n+               value: s3://somewhere-else\n",
		"ConfigMap envsync-sanitise-scripts:",
		"\n+     SELECT 'tampered';\n",
		"ServiceAccount envsync:",
		"role/elsewhere",
		"ExternalSecret " + want.ExternalSecrets[0].Name + ":",
		"somewhere/else",
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

// Kubernetes expands $(NAME) in a literal env value: a declared value
// holding one (database "x$(DB_PASSWORD)") would reach the runner, and its
// metric labels, with the password in it. Go and the chart both write $
// as $$, which the kubelet turns back into the value as declared.
func TestADollarInADeclaredValueReachesTheRunnerAsWritten(t *testing.T) {
	e := testEstate(t)
	s := findSync(t, e, "whitehall-mysql")
	s.Databases = []string{"x$(DB_PASSWORD)"}
	for i := range s.Jobs {
		for db, script := range s.Jobs[i].Sanitise {
			delete(s.Jobs[i].Sanitise, db)
			s.Jobs[i].Sanitise[s.Databases[0]] = script
		}
	}
	s.Env = []model.EnvVar{{Name: "MYSQL_EXTRA", Value: "a$(DB_HOST)$b"}}
	cj := findCronJob(t, cronJobs(t, e, "staging"), "whitehall-mysql")
	for _, c := range podContainers(cj) {
		for name, want := range map[string]string{"DB_DATABASE": "x$$(DB_PASSWORD)", "MYSQL_EXTRA": "a$$(DB_HOST)$$b"} {
			if v, _ := envOf(c, name); v.Value != want {
				t.Errorf("%s: %s = %q, want %q", c.Name, name, v.Value, want)
			}
		}
	}
	assertChartMatchesGo(t, e)
}

// A sync that declares a classification has it written beside its
// scripts, and its sanitising restore is given it (CLASSIFICATION); the
// chart renders the same.
func TestAClassifiedSyncsSanitisingRestoreGetsItsClassification(t *testing.T) {
	e := testEstate(t)
	s := findSync(t, e, "chat-postgres")
	s.Classification = map[string]map[string]string{"messages": {"id": "public", "body": "personal"}}
	s.AllowedEmailDomains = []string{"pseudo.example"}
	cm, err := kube.ScriptsConfigMap(e, "integration")
	if err != nil {
		t.Fatal(err)
	}
	var got contract.Classification
	if err := json.Unmarshal([]byte(cm.Data["chat-postgres.classification.json"]), &got); err != nil {
		t.Fatalf("the ConfigMap's classification: %v\n%v", err, cm.Data)
	}
	if got.Sync != "chat-postgres" || got.Tables["messages"]["body"] != "personal" || got.AllowedEmailDomains[0] != "pseudo.example" || got.Declared == "" {
		t.Errorf("classification %+v", got)
	}
	restore := podContainers(findCronJob(t, cronJobs(t, e, "integration"), "chat-postgres"))[0]
	if v, _ := envOf(restore, "CLASSIFICATION"); v.Value != kube.ScriptsMountPath+"/chat-postgres.classification.json" {
		t.Errorf("the restore's CLASSIFICATION = %q", v.Value)
	}
	for _, c := range podContainers(findCronJob(t, cronJobs(t, e, "staging"), "chat-postgres")) {
		if _, has := envOf(c, "CLASSIFICATION"); has {
			t.Errorf("staging's %s, which does not sanitise, has CLASSIFICATION", c.Name)
		}
	}
	assertChartMatchesGo(t, e)
}
