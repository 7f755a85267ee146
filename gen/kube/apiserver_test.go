package kube_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/gen"
	"github.com/envsync/envsync/testenv"
)

// A real Kubernetes API server (kube-apiserver on etcd) is asked whether it
// accepts every object envsync generates, as Argo CD would apply it: a
// server-side dry run with strict field validation, after the namespaces
// and the PrometheusRule CRD exist. So is the Job an operator makes from
// each CronJob (kubectl create job --from=cronjob/...).

// object is one generated document, with what the API needs to place it.
type object struct {
	file                                        string
	apiVersion, kind, name, namespace, resource string
	doc                                         []byte // YAML
}

var plurals = map[string]string{"CronJob": "cronjobs", "ConfigMap": "configmaps", "ServiceAccount": "serviceaccounts", "PrometheusRule": "prometheusrules", "ExternalSecret": "externalsecrets", "Job": "jobs", "Namespace": "namespaces"}

func parseObjects(t *testing.T, file string, data []byte) []object {
	t.Helper()
	var out []object
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var meta struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if meta.Kind == "" {
			continue
		}
		res, ok := plurals[meta.Kind]
		if !ok {
			t.Fatalf("%s: kind %s: add its resource to the test", file, meta.Kind)
		}
		out = append(out, object{file, meta.APIVersion, meta.Kind, meta.Metadata.Name, meta.Metadata.Namespace, res, doc})
	}
	return out
}

// path is the object's URL path on the API server.
func (o object) path() string {
	base := "/apis/" + o.apiVersion
	if o.apiVersion == "v1" {
		base = "/api/v1"
	}
	if o.namespace != "" {
		base += "/namespaces/" + o.namespace
	}
	return base + "/" + o.resource + "/" + o.name
}

// dryRunApply asks the server to apply doc at path without storing it,
// refusing unknown and duplicate fields.
func dryRunApply(ctx context.Context, s *testenv.KubeAPIServer, path string, doc []byte) (int, string, error) {
	code, body, err := s.Do(ctx, http.MethodPatch, path+"?dryRun=All&fieldValidation=Strict&fieldManager=envsync-test&force=true", "application/apply-patch+yaml", doc)
	return code, string(body), err
}

// generatedManifests compiles the estate at root in memory and returns the
// objects of every environment's manifests directory.
func generatedManifests(t *testing.T, root string) []object {
	t.Helper()
	e, err := declare.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	files, err := gen.Generate(e)
	if err != nil {
		t.Fatal(err)
	}
	var out []object
	for _, f := range files {
		if filepath.Base(filepath.Dir(f.Path)) == "manifests" {
			out = append(out, parseObjects(t, f.Path, f.Data)...)
		}
	}
	return out
}

// e2eEstate is the end-to-end test's small estate, with the schema beside
// it as the e2e test lays it out.
func e2eEstate(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../e2e/testdata/estate")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(root, "schema"), os.DirFS("../../schema")); err != nil {
		t.Fatal(err)
	}
	return root
}

// installCRDs creates the CRDs of the custom resources envsync emits and
// waits until the server serves them.
func installCRDs(t *testing.T, s *testenv.KubeAPIServer) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []struct{ file, served string }{
		{testenv.PrometheusRuleCRD(t), "/apis/monitoring.coreos.com/v1/prometheusrules"},
		{testenv.ExternalSecretCRD(t), "/apis/external-secrets.io/v1/externalsecrets"},
	} {
		crd, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		body, err := yaml.YAMLToJSON(crd)
		if err != nil {
			t.Fatal(err)
		}
		if code, out, err := s.Do(ctx, http.MethodPost, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "application/json", body); err != nil || code != http.StatusCreated {
			t.Fatalf("creating the CRD of %s: %d %v\n%s", c.file, code, err, out)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if code, _, _ := s.Do(ctx, http.MethodGet, c.served, "", nil); code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never became served", c.served)
			}
		}
	}
}

func createNamespace(t *testing.T, s *testenv.KubeAPIServer, name string) {
	t.Helper()
	body := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, name)
	code, out, err := s.Do(context.Background(), http.MethodPost, "/api/v1/namespaces", "application/json", body)
	if err != nil || (code != http.StatusCreated && code != http.StatusConflict) {
		t.Fatalf("creating namespace %s: %d %v\n%s", name, code, err, out)
	}
}

// jobFrom is the Job `kubectl create job --from=cronjob/NAME` makes.
func jobFrom(t *testing.T, o object) (string, []byte) {
	t.Helper()
	var cj batchv1.CronJob
	if err := yaml.Unmarshal(o.doc, &cj); err != nil {
		t.Fatal(err)
	}
	job := batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: cj.Name + "-manual", Namespace: cj.Namespace,
			Labels:      cj.Spec.JobTemplate.Labels,
			Annotations: map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
		},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("/apis/batch/v1/namespaces/%s/jobs/%s", cj.Namespace, job.Name), b
}

func TestARealKubernetesAPIServerAcceptsEveryGeneratedObject(t *testing.T) {
	s := testenv.StartKubeAPIServer(t)
	installCRDs(t, s)
	ctx := context.Background()

	for estate, root := range map[string]string{"example": "../..", "e2e": e2eEstate(t)} {
		objects := generatedManifests(t, root)
		kinds := map[string]int{}
		for _, o := range objects {
			createNamespace(t, s, o.namespace)
			kinds[o.kind]++
		}
		if kinds["CronJob"] == 0 || kinds["PrometheusRule"] == 0 || kinds["ConfigMap"] == 0 || estate == "example" && (kinds["ExternalSecret"] == 0 || kinds["ServiceAccount"] == 0) {
			t.Fatalf("%s estate: kinds %v: the test would prove little", estate, kinds)
		}
		for _, o := range objects {
			code, out, err := dryRunApply(ctx, s, o.path(), o.doc)
			if err != nil || code != http.StatusOK && code != http.StatusCreated {
				t.Errorf("%s: %s %s/%s refused: %d %v\n%s", o.file, o.kind, o.namespace, o.name, code, err, out)
			}
			if o.kind != "CronJob" {
				continue
			}
			path, job := jobFrom(t, o)
			if code, out, err := dryRunApply(ctx, s, path, job); err != nil || code != http.StatusOK && code != http.StatusCreated {
				t.Errorf("%s: the Job made from CronJob %s refused: %d %v\n%s", o.file, o.name, code, err, out)
			}
		}
		t.Logf("%s estate: %v accepted", estate, kinds)
	}
}

func TestTheAPIServerRefusesWhatIsBroken(t *testing.T) {
	s := testenv.StartKubeAPIServer(t)
	installCRDs(t, s)
	createNamespace(t, s, "apps")
	ctx := context.Background()
	var good, goodSecret object
	for _, o := range generatedManifests(t, "../..") {
		switch {
		case !strings.Contains(o.file, "staging"):
		case o.kind == "CronJob" && o.name == "db-backup-chat-postgres":
			good = o
		case o.kind == "ExternalSecret" && o.name == "envsync-chat-postgres":
			goodSecret = o
		}
	}
	if good.doc == nil || goodSecret.doc == nil {
		t.Fatal("no staging db-backup-chat-postgres CronJob or envsync-chat-postgres ExternalSecret in the example estate")
	}
	for _, o := range []object{good, goodSecret} {
		if code, out, _ := dryRunApply(ctx, s, o.path(), o.doc); code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("the unbroken %s is refused (%d): the cases below prove nothing\n%s", o.kind, code, out)
		}
	}
	long := strings.Repeat("a", 53)
	rule := func(forValue string) []byte {
		return fmt.Appendf(nil, `apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: envsync, namespace: apps}
spec:
  groups:
  - name: g
    rules:
    - alert: A
      expr: up == 0
      for: %s
`, forValue)
	}
	for _, c := range []struct {
		name, path string
		doc        []byte
		says       string // in the server's refusal
	}{
		{"a CronJob name over 52 characters", strings.Replace(good.path(), "/"+good.name, "/"+long, 1), bytes.Replace(good.doc, []byte("name: "+good.name+"\n"), []byte("name: "+long+"\n"), 1), "52"},
		{"a schedule the cron parser refuses", good.path(), bytes.Replace(good.doc, []byte("schedule: "), []byte("schedule: 61 "), 1), "spec.schedule"},
		// Server-side apply refuses an unknown field with a 500 ("failed to
		// create typed patch object"): a refusal all the same.
		{"an unknown field", good.path(), bytes.Replace(good.doc, []byte("  concurrencyPolicy: Forbid\n"), []byte("  concurrencyPolicy: Forbid\n  concurrencyPolicyy: Forbid\n"), 1), "concurrencyPolicyy"},
		{"an ExternalSecret with an unknown creation policy", goodSecret.path(), bytes.Replace(goodSecret.doc, []byte("creationPolicy: Owner"), []byte("creationPolicy: Owns"), 1), "creationPolicy"},
		{"a PrometheusRule with a bad for", "/apis/monitoring.coreos.com/v1/namespaces/apps/prometheusrules/envsync", rule("5 minutes"), "for"},
	} {
		code, out, err := dryRunApply(ctx, s, c.path, c.doc)
		if err != nil || code < 400 || !strings.Contains(out, `"status":"Failure"`) || !strings.Contains(out, c.says) {
			t.Errorf("%s: accepted, or refused without saying %q (%d, %v)\n%s", c.name, c.says, code, err, out)
		}
	}
	if code, out, _ := dryRunApply(ctx, s, "/apis/monitoring.coreos.com/v1/namespaces/apps/prometheusrules/envsync", rule("5m")); code != http.StatusOK && code != http.StatusCreated {
		t.Errorf("the same PrometheusRule with a good for is refused (%d): the bad case proves nothing\n%s", code, out)
	}
}
