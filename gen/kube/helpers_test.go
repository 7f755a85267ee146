package kube_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/gen/kube"
	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/model/modeltest"
)

// chartDir is chart/envsync, relative to this package.
var chartDir = filepath.Join("..", "..", "chart", "envsync")

// testEstate is modeltest's estate with its sanitise scripts written to a
// temporary root.
func testEstate(t testing.TB) *model.Estate {
	t.Helper()
	e := modeltest.Estate()
	e.Root = t.TempDir()
	scripts := map[string]string{
		"syncs/sanitise/chat.sql":          "UPDATE messages SET body = NULL;\n",
		"syncs/sanitise/whitehall.sql":     "-- pseudonymise\nUPDATE users SET email = concat('user', id, '@example.org');\n",
		"syncs/sanitise/asset-manager.js":  "db.assets.updateMany({}, {$unset: {access_limited: \"\"}});\n",
		"syncs/sanitise/unused-script.sql": "SELECT 1;\n",
	}
	for p, content := range scripts {
		full := filepath.Join(e.Root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	declare.LoadScripts(e)
	return e
}

func findSync(t testing.TB, e *model.Estate, name string) *model.Sync {
	t.Helper()
	for i := range e.Syncs {
		if e.Syncs[i].Name == name {
			return &e.Syncs[i]
		}
	}
	t.Fatalf("no sync %q in the estate", name)
	return nil
}

func findJob(t testing.TB, s *model.Sync, env string) *model.Job {
	t.Helper()
	for i := range s.Jobs {
		if s.Jobs[i].Environment == env {
			return &s.Jobs[i]
		}
	}
	t.Fatalf("sync %q has no job in %q", s.Name, env)
	return nil
}

// findCronJob finds the CronJob of sync, whatever its environment's
// jobNamePrefix.
func findCronJob(t testing.TB, cjs []batchv1.CronJob, sync string) batchv1.CronJob {
	t.Helper()
	for _, cj := range cjs {
		if cj.Labels[kube.LabelSync] == sync {
			return cj
		}
	}
	t.Fatalf("no CronJob of sync %q", sync)
	return batchv1.CronJob{}
}

// podContainers are the pod's operations in the order they run.
func podContainers(cj batchv1.CronJob) []corev1.Container {
	spec := cj.Spec.JobTemplate.Spec.Template.Spec
	return append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...)
}

func envOf(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

const helmHint = "go install helm.sh/helm/v3/cmd/helm@v3.22.0"

// helm runs the real helm binary and returns its standard output.
func helm(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// helmBinary is the helm that make tools installs, else one on PATH.
var helmBinary = sync.OnceValues(func() (string, error) {
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %v", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "helm")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if bin, err := exec.LookPath("helm"); err == nil {
		return bin, nil
	}
	return "", fmt.Errorf("helm is not installed: %s", helmHint)
})

// runHelm runs the real helm binary; the error holds its output.
func runHelm(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	bin, err := helmBinary()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// writeValues writes v as YAML, the way the writer does, to a temp file.
func writeValues(t testing.TB, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rendered is what `helm template` gave, decoded into typed objects.
type rendered struct {
	CronJobs        []batchv1.CronJob
	ConfigMaps      []corev1.ConfigMap
	ServiceAccounts []corev1.ServiceAccount
	ExternalSecrets []kube.ExternalSecret
}

func helmTemplate(t testing.TB, valuesFile string) rendered {
	t.Helper()
	out := helm(t, "template", "envsync", chartDir, "--values", valuesFile)
	var r rendered
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading helm output: %v", err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("decoding helm output: %v\n%s", err, doc)
		}
		switch tm.Kind {
		case "":
			continue // an empty document
		case "CronJob":
			var cj batchv1.CronJob
			if err := yaml.UnmarshalStrict(doc, &cj); err != nil {
				t.Fatalf("decoding a rendered CronJob: %v\n%s", err, doc)
			}
			r.CronJobs = append(r.CronJobs, cj)
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := yaml.UnmarshalStrict(doc, &cm); err != nil {
				t.Fatalf("decoding a rendered ConfigMap: %v\n%s", err, doc)
			}
			r.ConfigMaps = append(r.ConfigMaps, cm)
		case "ServiceAccount":
			var sa corev1.ServiceAccount
			if err := yaml.UnmarshalStrict(doc, &sa); err != nil {
				t.Fatalf("decoding a rendered ServiceAccount: %v\n%s", err, doc)
			}
			r.ServiceAccounts = append(r.ServiceAccounts, sa)
		case "ExternalSecret":
			var es kube.ExternalSecret
			if err := yaml.UnmarshalStrict(doc, &es); err != nil {
				t.Fatalf("decoding a rendered ExternalSecret: %v\n%s", err, doc)
			}
			r.ExternalSecrets = append(r.ExternalSecrets, es)
		default:
			t.Fatalf("the chart rendered an unexpected %s:\n%s", tm.Kind, doc)
		}
	}
	return r
}

// canonical is obj after a YAML round trip through its own type, as YAML:
// two objects are semantically equal when their canonical forms are.
func canonical[T any](t testing.TB, obj T) string {
	t.Helper()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var back T
	if err := yaml.UnmarshalStrict(b, &back); err != nil {
		t.Fatal(err)
	}
	if b, err = yaml.Marshal(back); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lineDiff shows where want and got differ, line by line, with a little
// context: enough to read a drift between the chart and the Go rendering.
func lineDiff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	// Longest common subsequence over lines; objects are small.
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		mark byte
		text string
	}
	var lines []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			lines = append(lines, line{' ', a[i]})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', a[i]})
			i++
		default:
			lines = append(lines, line{'+', b[j]})
			j++
		}
	}
	var sb strings.Builder
	sb.WriteString("--- want (Go)\n+++ got (helm)\n")
	const context = 3
	lastPrinted := -1
	for k, l := range lines {
		if l.mark == ' ' {
			continue
		}
		start := max(k-context, lastPrinted+1)
		if lastPrinted >= 0 && start > lastPrinted+1 {
			sb.WriteString("  ...\n")
		}
		for c := start; c < k; c++ {
			fmt.Fprintf(&sb, "  %s\n", lines[c].text)
		}
		fmt.Fprintf(&sb, "%c %s\n", l.mark, l.text)
		lastPrinted = k
		for c := k + 1; c < len(lines) && c <= k+context && lines[c].mark == ' '; c++ {
			fmt.Fprintf(&sb, "  %s\n", lines[c].text)
			lastPrinted = c
		}
	}
	return sb.String()
}

// withSearch adds two search syncs to e across its three environments:
// search-opensearch reached without credentials, logs-opensearch with
// basic auth from its Secret.
func withSearch(e *model.Estate) *model.Estate {
	for _, s := range []struct{ name, auth string }{{"search-opensearch", "none"}, {"logs-opensearch", "basic"}} {
		job := func(env, sched, class string, ops ...model.Operation) model.Job {
			j := model.Job{Environment: env, Schedule: sched, Class: class, Operations: ops, Ensure: model.Present,
				Endpoint: "https://" + s.name + "." + env + ".internal", Repository: s.name + "-" + env}
			if ops[0] == model.Restore {
				j.RestoreFrom = map[string]string{"staging": "production", "integration": "staging"}[env]
			}
			return j
		}
		e.Syncs = append(e.Syncs, model.Sync{
			Name: s.name, Instance: s.name, Engine: model.OpenSearch, Databases: []string{"*"},
			Host: s.name, Secret: "envsync-" + s.name, Tier: map[model.Operation]string{model.Restore: "quicker", model.Transform: "quicker", model.Backup: "quicker"},
			KeepSnapshots: 2, SearchAuth: s.auth, NoPersonalData: true,
			Jobs: []model.Job{
				job("production", "0 1 * * *", "daily", model.Backup),
				job("staging", "50 2 * * 1-5", "weekdays", model.Restore, model.Backup),
				job("integration", "35 5 * * 1", "weekly-monday", model.Restore, model.Backup),
			},
		})
	}
	return e
}
