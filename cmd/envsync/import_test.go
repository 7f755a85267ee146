package main

import (
	"cmp"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/declare/declaretest"
	"github.com/envsync/envsync/gen/kube"
	"github.com/envsync/envsync/timing"
)

const chartValues = "../../chartimport/testdata/db-backup/values.yaml"
const chartScripts = "../../chartimport/testdata/db-backup/scripts"

// emptyRepo is a repository with envsync's cue.mod and schema and no
// declarations.
func emptyRepo(t *testing.T) string {
	t.Helper()
	root := declaretest.CopyEstate(t, false)
	if err := os.RemoveAll(filepath.Join(root, "syncs")); err != nil {
		t.Fatal(err)
	}
	return root
}

// oldJob is a job of the chart's values file as the test reads it, with
// yaml.v3 (which applies the merge keys) and none of chartimport's code.
type oldJob struct {
	Schedule   string `yaml:"schedule"`
	DB         string `yaml:"db"`
	Host       string `yaml:"host"`
	DBMS       string `yaml:"dbms"`
	Operations []struct {
		Op     string `yaml:"op"`
		DB     string `yaml:"db"`
		Bucket string `yaml:"bucket"`
		Script string `yaml:"script"`
	} `yaml:"operations"`
	Suspend              bool  `yaml:"suspend"`
	MaxJobRuntimeSeconds int64 `yaml:"maxJobRuntimeSeconds"`
	Resources            *struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	ExtraEnv []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"extraEnv"`
}

// step is one operation on one database: what a chart job lists and what
// a CronJob's container runs.
type step struct{ op, bucket, script string }

func TestImportingTheOldChartsValuesGivesTheSameJobsJobForJob(t *testing.T) {
	var values struct {
		SuspendAllCronJobs bool                         `yaml:"suspendAllCronJobs"`
		Cronjobs           map[string]map[string]oldJob `yaml:"cronjobs"`
	}
	data, err := os.ReadFile(chartValues)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	root := emptyRepo(t)
	out, _, err := envsync(t, "import", "--root", root, "--scripts", chartScripts, chartValues)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	e, err := declare.Load(root)
	if err != nil {
		t.Fatalf("the imported declarations do not load: %v", err)
	}
	if _, _, err := envsync(t, "vet", "--root", root); err != nil {
		t.Fatalf("vet rejects the import: %v", err)
	}

	// The values file names production's and staging's buckets in its
	// restores; integration's follows their pattern.
	bucket := map[string]string{
		"production":  "s3://govuk-production-database-backups",
		"staging":     "s3://govuk-staging-database-backups",
		"integration": "s3://govuk-integration-database-backups",
	}
	jobs := 0
	for env, old := range values.Cronjobs {
		cjs, err := kube.CronJobs(e, env)
		if err != nil {
			t.Fatal(err)
		}
		scripts, err := kube.ScriptsConfigMap(e, env)
		if err != nil {
			t.Fatal(err)
		}
		var names, want []string
		for _, cj := range cjs {
			names = append(names, cj.Name)
		}
		for name := range old {
			want = append(want, "db-backup-"+name)
		}
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("%s: CronJobs %v, want %v", env, names, want)
		}
		for name, j := range old {
			i := slices.Index(names, "db-backup-"+name)
			if i < 0 {
				continue
			}
			jobs++
			sameJob(t, env, name, j, cjs[i], scripts, bucket, values.SuspendAllCronJobs)
		}
	}
	if jobs < 40 {
		t.Fatalf("only %d jobs compared: the test proves little", jobs)
	}
	for _, want := range []string{
		"values.yaml:256: cronjobs.staging.shared-documentdb: envsync runs the databases one after another",
		"environment integration: not declared sanitise: true, since shared-documentdb restores publisher_production without a script",
		`podSecurityContext {"fsGroup":1001,"runAsGroup":1001,"runAsNonRoot":true,"runAsUser":1001}`,
		"image ghcr.io/alphagov/govuk-infrastructure/toolbox:20251104: the old scripts' image",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}

// sameJob compares one chart job with the CronJob envsync made of it.
func sameJob(t *testing.T, env, name string, j oldJob, cj batchv1.CronJob, scripts *corev1.ConfigMap, bucket map[string]string, suspendAll bool) {
	t.Helper()
	where := env + " " + name
	spec := cj.Spec.JobTemplate.Spec
	pod := spec.Template.Spec
	containers := append(slices.Clone(pod.InitContainers), pod.Containers...)

	if !sameStarts(t, j.Schedule, cj.Spec.Schedule) {
		t.Errorf("%s: schedule %q, the chart's %q", where, cj.Spec.Schedule, j.Schedule)
	}
	if got := *cj.Spec.Suspend; got != (j.Suspend || suspendAll) {
		t.Errorf("%s: suspend %v, the chart's %v", where, got, j.Suspend)
	}
	deadline := j.MaxJobRuntimeSeconds
	if deadline == 0 {
		deadline = int64(12 * time.Hour / time.Second) // envsync's default; the chart had none
	}
	if got := *spec.ActiveDeadlineSeconds; got != deadline {
		t.Errorf("%s: activeDeadlineSeconds %d, want %d", where, got, deadline)
	}
	if pod.ServiceAccountName != "db-backup" {
		t.Errorf("%s: runs as %q", where, pod.ServiceAccountName)
	}

	// Per database, the steps the chart lists, a transform right after a
	// restore being the restore's sanitise script.
	wantSteps := map[string][]step{}
	var dbs []string
	for _, o := range j.Operations {
		db := o.DB
		if db == "" {
			db = j.DB
		}
		if !slices.Contains(dbs, db) {
			dbs = append(dbs, db)
		}
		s := wantSteps[db]
		if o.Op == "transform" && len(s) > 0 && s[len(s)-1].op == "restore" {
			s[len(s)-1].script = o.Script
			continue
		}
		b := o.Bucket
		if o.Op != "restore" {
			b = bucket[env]
		}
		wantSteps[db] = append(s, step{o.Op, b, o.Script})
	}
	gotSteps := map[string][]step{}
	for _, c := range containers {
		v := envMap(c)
		s := step{c.Args[1], v["BUCKET"], path.Base(v["SANITISE_SCRIPT"])}
		if s.script == "." {
			s.script = ""
		}
		gotSteps[v["DB_DATABASE"]] = append(gotSteps[v["DB_DATABASE"]], s)
		if s.script != "" && scripts.Data[s.script] != readScript(t, s.script) {
			t.Errorf("%s: script %s in the ConfigMap differs from the chart's", where, s.script)
		}

		engine := map[string]string{"postgres": "postgres", "mysql": "mysql", "documentdb": "mongo"}[cmp.Or(j.DBMS, name[strings.LastIndex(name, "-")+1:])]
		host := cmp.Or(j.Host, name)
		if v["DB_ENGINE"] != engine || v["DB_HOST"] != host {
			t.Errorf("%s: engine %s host %s, want %s %s", where, v["DB_ENGINE"], v["DB_HOST"], engine, host)
		}
		// The chart keyed a job's dumps by its host: a roll-back job on an
		// app's host reads that app's dumps.
		if v["DB_INSTANCE"] != host {
			t.Errorf("%s: DB_INSTANCE %s, want the host %s", where, v["DB_INSTANCE"], host)
		}
		owner := ""
		if len(dbs) == 1 {
			owner = contract.DefaultOwner(dbs[0])
		}
		for _, x := range j.ExtraEnv {
			if x.Name == "DB_OWNER" {
				owner = x.Value
			} else if v[x.Name] != x.Value {
				t.Errorf("%s: %s=%q, the chart's %q", where, x.Name, v[x.Name], x.Value)
			}
		}
		if v["DB_OWNER"] != owner {
			t.Errorf("%s: DB_OWNER %q, want %q", where, v["DB_OWNER"], owner)
		}
		if r := j.Resources; r != nil {
			for k, q := range r.Limits {
				if got := c.Resources.Limits[corev1.ResourceName(k)]; got.String() != q {
					t.Errorf("%s: limits.%s %s, the chart's %s", where, k, got.String(), q)
				}
			}
			for k, q := range r.Requests {
				if got := c.Resources.Requests[corev1.ResourceName(k)]; got.String() != q {
					t.Errorf("%s: requests.%s %s, the chart's %s", where, k, got.String(), q)
				}
			}
		}
	}
	for _, db := range dbs {
		if !slices.Equal(gotSteps[db], wantSteps[db]) {
			t.Errorf("%s: database %s: steps %v, the chart's %v", where, db, gotSteps[db], wantSteps[db])
		}
	}
	if len(gotSteps) != len(dbs) {
		t.Errorf("%s: databases %v, the chart's %v", where, gotSteps, dbs)
	}
}

// sameStarts reports whether two cron lines fire at the same times over
// two weeks.
func sameStarts(t *testing.T, a, b string) bool {
	sa, err := timing.Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := timing.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	end := timing.WeekStart.Add(2 * timing.Week)
	return slices.Equal(timing.Starts(sa, timing.WeekStart, end), timing.Starts(sb, timing.WeekStart, end))
}

func envMap(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func readScript(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join(chartScripts, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestImportWritesNothingBesideExistingDeclarationsOrWhenAScriptIsMissing(t *testing.T) {
	withEstate := testEstate(t)
	before, _ := os.ReadFile(filepath.Join(withEstate, "syncs", "chat.cue"))
	_, _, err := envsync(t, "import", "--root", withEstate, "--scripts", chartScripts, chartValues)
	if err == nil || !strings.Contains(err.Error(), "already holds declarations") || !strings.Contains(err.Error(), "nothing written") {
		t.Fatalf("import beside an estate: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(withEstate, "syncs", "chat.cue")); string(after) != string(before) {
		t.Fatal("an existing declaration was changed")
	}

	root := emptyRepo(t)
	_, _, err = envsync(t, "import", "--root", root, "--scripts", t.TempDir(), chartValues)
	if err == nil || !strings.Contains(err.Error(), "values.yaml:178: cronjobs.staging.chat-postgres.operations[1].script: open ") {
		t.Fatalf("a missing script: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "syncs")); !os.IsNotExist(err) {
		t.Fatalf("syncs/ written after an error: %v", err)
	}
}

func TestWhatImportCannotExpressIsReportedWithItsLineAndTheRestImportedPaused(t *testing.T) {
	dir := t.TempDir()
	values := `suspendAllCronJobs: true
cronjobs:
  production:
    app-postgres:
      schedule: "10 1 * * *"
      db: app_production
      operations: [{op: backup}]
    monthly-postgres:
      schedule: "0 2 1 * *"
      db: monthly_production
      operations: [{op: backup}]
    cache-redis:
      schedule: "0 3 * * *"
      db: "0"
      operations: [{op: backup}]
    app-mysql:
      schedule: "10 2 * * *"
      db: app_production
      retries: 3
      operations: [{op: backup}]
  staging:
    app-postgres:
      schedule: "10 3 * * 1-5"
      db: app_production
      operations:
        - {op: backup}
        - {op: restore, bucket: s3://acme-production-db}
    app-mysql:
      schedule: "10 4 * * 1-5"
      db: other_production
      operations: [{op: restore, bucket: s3://acme-production-db}]
`
	file := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(file, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	root := emptyRepo(t)
	// Dropped jobs fail the import until they are accepted: nothing written.
	out, _, err := envsync(t, "import", "--root", root, file)
	if err == nil || !strings.Contains(err.Error(), "4 job(s) of the values file would be dropped") {
		t.Fatalf("an import that drops jobs: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "syncs")); !os.IsNotExist(err) {
		t.Fatalf("syncs/ written though jobs were dropped: %v", err)
	}
	out, _, err = envsync(t, "import", "--root", root, "--accept-dropped", file)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	dropped := out[strings.Index(out, "dropped jobs (no declaration makes them):"):]
	for _, want := range []string{
		`values.yaml:8: cronjobs.production.monthly-postgres: schedule "0 2 1 * *" picks days of the month or months`,
		`values.yaml:12: cronjobs.production.cache-redis: DBMS "redis" (the job name's last word, or dbms) is not postgres, mysql or documentdb`,
		`values.yaml:22: cronjobs.staging.app-postgres: database app_production's operations [backup restore] are not in the order restore, transform, backup that envsync runs`,
		`values.yaml:28: cronjobs.staging.app-mysql: its engine or databases differ`,
	} {
		if !strings.Contains(dropped, want) {
			t.Errorf("the dropped jobs lack %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		`values.yaml:16: cronjobs.production.app-mysql.retries: not a value the chart reads; ignored`,
		`values.yaml:28: cronjobs.staging.app-mysql: databases [other_production] differs from the first environment's [app_production]`,
		`environment staging: no restore reads its bucket; s3://acme-staging-db, after the pattern of the others`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	e, err := declare.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range e.Syncs {
		for _, j := range s.Jobs {
			got = append(got, j.Environment+" "+s.Name+" "+strconv.Itoa(len(j.Operations)))
			if !j.Suspend {
				t.Errorf("%s in %s runs: suspendAllCronJobs pauses every environment", s.Name, j.Environment)
			}
		}
	}
	for _, env := range e.Environments {
		if !env.Suspend {
			t.Errorf("environment %s is not paused", env.Name)
		}
	}
	slices.Sort(got)
	if want := []string{"production app-mysql 1", "production app-postgres 1"}; !slices.Equal(got, want) {
		t.Errorf("imported jobs %v, want %v", got, want)
	}
}

// A values file is input from whoever can edit it: a job key or a
// script name that is a path writes nothing anywhere, neither in the
// repository nor outside it, and the error names the key and its line.
func TestAnImportWhoseNamesArePathsWritesNothingAnywhere(t *testing.T) {
	for name, c := range map[string]struct{ values, want string }{
		"a job key that climbs": {`cronjobs:
  production:
    ../../PWNED-postgres:
      schedule: "10 1 * * *"
      db: app_production
      operations: [{op: backup}]
`, `values.yaml:3: cronjobs.production.../../PWNED-postgres: job "../../PWNED-postgres" is not a name`},
		"a script that climbs": {`cronjobs:
  production:
    app-postgres:
      schedule: "10 1 * * *"
      db: app_production
      operations: [{op: transform, script: ".."}, {op: backup}]
`, `script: ".."`},
	} {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "a", "b")
			os.MkdirAll(dir, 0o755)
			file := filepath.Join(dir, "values.yaml")
			os.WriteFile(file, []byte(c.values), 0o644)
			root := emptyRepo(t)
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			_, _, err := envsync(t, "import", "--root", root, "--scripts", dir, "--bucket", "production=s3://acme-production", file)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("import: %v, want an error saying %q", err, c.want)
			}
			if _, err := os.Stat(filepath.Join(root, "syncs")); !os.IsNotExist(err) {
				t.Errorf("syncs/ written: %v", err)
			}
			filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && p != file {
					t.Errorf("written beside the values file: %s", p)
				}
				return nil
			})
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left in TMPDIR: %v", left)
			}
		})
	}
}
