package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"go.mongodb.org/mongo-driver/v2/bson"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/local"
	"github.com/envsync/envsync/testenv"
	"github.com/envsync/envsync/testenv/stack"
)

// compileTestEstate copies testdata/estate beside the repository's schema
// into a temporary root and compiles it with the real `envsync gen`.
func compileTestEstate(t testing.TB, bin string) string {
	t.Helper()
	return compileEstate(t, bin, "testdata/estate")
}

// compileEstate compiles the estate in dir, a directory of testdata.
func compileEstate(t testing.TB, bin, dir string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(root, "schema"), os.DirFS(filepath.Join(stack.RepoRoot(), "schema"))); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "gen", "--root", root)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("envsync gen of the test estate: %v\n%s", err, out)
	}
	return filepath.Join(root, "out")
}

// TestOneNightFromProductionToIntegration runs the generated jobs of a small
// estate through three environments on real servers, with real Prometheus
// servers evaluating the generated rules, and reads the result back the way
// an operator would: databases, buckets, alerts and dashboard queries.
func TestOneNightFromProductionToIntegration(t *testing.T) {
	bin := stack.BuildEnvsync(t)
	out := compileTestEstate(t, bin)
	st := stack.Start(t, stack.Options{Binary: bin, Out: out, Envs: []string{"production", "staging", "integration"}})
	prod, staging, integration := st.Env("production"), st.Env("staging"), st.Env("integration")

	ps := people(150)
	seedPostgres(t, prod.Postgres, ps)
	seedMariaDB(t, prod.MariaDB, ps)
	seedMongo(t, prod.Mongo, ps)
	prod.Search.Seed("govuk", 400)
	prod.Search.Seed(".kibana_1", 3)
	staging.Search.Seed("govuk", 10) // yesterday's, replaced tonight

	mustRun := func(env string, args ...string) {
		t.Helper()
		if r := st.Local(env, args...); r.Err != nil {
			t.Fatalf("envsync local %s %v: %v\n%s", env, args, r.Err, r.Output)
		}
	}

	// Production, holding ledger-postgres back: its backup has never
	// reported, and only that is pending (the alert waits a class window
	// before firing; promtool's generated tests cover the wait).
	mustRun("production", "people-postgres", "orders-postgres", "accounts-mysql", "assets-documentdb", "search-opensearch")
	active := settledAlerts(t, prod, time.Now())
	want := []string{"DatabaseOperationNeverReported pending ledger-postgres/ledger_production backup"}
	if got := describe(active); !equal(got, want) {
		t.Fatalf("production alerts with ledger-postgres held back:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	mustRun("production", "ledger-postgres")

	// The rest of the night: staging from production, integration from
	// staging, every job of each environment.
	mustRun("staging")
	mustRun("integration")

	t.Run("after a successful night no generated alert is active in any environment", func(t *testing.T) {
		since := time.Now()
		for _, e := range st.Envs {
			if got := describe(settledAlerts(t, e, since)); len(got) > 0 {
				t.Errorf("%s: active alerts after a successful night:\n%s", e.Name, strings.Join(got, "\n"))
			}
		}
	})

	t.Run("production's data reached staging unchanged", func(t *testing.T) {
		for _, db := range []string{"people_production", "orders_production"} {
			if ok, diff := prod.Postgres.Snapshot(t, db).Equal(staging.Postgres.Snapshot(t, db)); !ok {
				t.Errorf("staging %s differs from production: %s", db, diff)
			}
		}
		if p, s := prod.MariaDB.Checksums(t, "accounts_production"), staging.MariaDB.Checksums(t, "accounts_production"); !equalMaps(p, s) {
			t.Errorf("staging accounts_production differs from production:\n%v\nvs\n%v", s, p)
		}
		// The search below is only meaningful if it finds personal data
		// where it is expected.
		if !strings.Contains(mongoText(t, staging.Mongo), ps[0].Email) {
			t.Error("staging's Mongo copy lacks production's uploaders: the check of integration's proves nothing")
		}
		if found := personalDataIn(t, staging, ps); len(found) == 0 {
			t.Error("staging holds no personal data: the search for it finds nothing, so its absence in integration proves nothing")
		}
	})

	t.Run("integration got every row, and no personal data", func(t *testing.T) {
		for table, n := range map[string]int{"citizens": len(ps), "applications": len(ps)} {
			var got int
			c := integration.Postgres.Connect(t, "people_production")
			if err := c.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != n {
				t.Errorf("integration people_production.%s has %d rows, want %d", table, got, n)
			}
		}
		var users int
		if err := integration.MariaDB.Root().QueryRow("SELECT COUNT(*) FROM accounts_production.users").Scan(&users); err != nil || users != len(ps) {
			t.Errorf("integration accounts_production.users has %d rows (%v), want %d", users, err, len(ps))
		}
		if text := mongoText(t, integration.Mongo); strings.Count(text, "@example.invalid") < len(ps) {
			t.Errorf("integration's uploads are not pseudonymised by assets.js")
		}
		uploads, err := integration.Mongo.Client().Database("assets_production").Collection("uploads").CountDocuments(context.Background(), bson.D{})
		if err != nil || uploads != int64(len(ps)) {
			t.Errorf("integration assets_production.uploads has %d documents (%v), want %d", uploads, err, len(ps))
		}
		if found := personalDataIn(t, integration, ps); len(found) > 0 {
			t.Errorf("personal data in integration: %s", strings.Join(found, "; "))
		}
	})

	t.Run("the search index reached staging and integration through snapshots, read by its name", func(t *testing.T) {
		for _, e := range []*stack.Env{staging, integration} {
			got := e.Search.Indices()
			if len(got) != 1 || !strings.HasPrefix(got[0], "govuk-envsync-") || !strings.HasSuffix(got[0], " docs=400 aliases=govuk") {
				t.Errorf("%s's search cluster holds %v, want production's govuk index (400 documents) read through its name", e.Name, got)
			}
			e.Search.AssertOnlyImplementedCalls(t)
		}
		for repo, n := range map[string]int{"e2e-production": 1, "e2e-staging": 1, "e2e-integration": 1} {
			if got := st.Repositories[repo].Snapshots(time.Now()); len(got) != n || !strings.HasSuffix(got[0], "-search-opensearch SUCCESS") {
				t.Errorf("repository %s holds %v", repo, got)
			}
		}
	})

	t.Run("every environment's bucket holds a dump and a pointer per database it backs up", func(t *testing.T) {
		for bucket, dbs := range map[string][]string{
			"e2e-production-database-backups":  {"people-postgres/latest-people_production.txt", "orders-postgres/latest-orders_production.txt", "accounts-mysql/latest-accounts_production.txt", "ledger-postgres/latest-ledger_production.txt", "assets-documentdb/latest-assets_production.txt"},
			"e2e-staging-database-backups":     {"people-postgres/latest-people_production.txt", "orders-postgres/latest-orders_production.txt", "accounts-mysql/latest-accounts_production.txt", "assets-documentdb/latest-assets_production.txt"},
			"e2e-integration-database-backups": {"people-postgres/latest-people_production.txt", "accounts-mysql/latest-accounts_production.txt", "assets-documentdb/latest-assets_production.txt"},
		} {
			keys := listKeys(t, st.S3, bucket)
			for _, pointer := range dbs {
				if !keys[pointer] {
					t.Errorf("%s: no %s among %v", bucket, pointer, keys)
					continue
				}
				target := strings.TrimSpace(readObject(t, st.S3, bucket, pointer))
				if !keys[target] {
					t.Errorf("%s: %s points to %q, which is not in the bucket", bucket, pointer, target)
				}
			}
		}
	})

	t.Run("the dumps integration publishes for laptops hold no personal data, unlike staging's", func(t *testing.T) {
		if found := personalDataInDumps(t, st.S3, "e2e-staging-database-backups", ps); len(found) == 0 {
			t.Error("staging's dumps hold no personal data: the search finds nothing, so its absence in integration's proves nothing")
		}
		if found := personalDataInDumps(t, st.S3, "e2e-integration-database-backups", ps); len(found) > 0 {
			t.Errorf("personal data in integration's dumps: %s", strings.Join(found, "; "))
		}
	})

	t.Run("every query of every dashboard panel returns data for every declared sync", func(t *testing.T) {
		for _, e := range st.Envs {
			checkDashboard(t, st, e.Name)
		}
		// The check itself must see a disagreement: a dashboard whose
		// queries name a label the runner does not push finds nothing.
		b, err := os.ReadFile(filepath.Join(out, "staging", "dashboard.json"))
		if err != nil {
			t.Fatal(err)
		}
		renamed := []byte(strings.ReplaceAll(string(b), "database_instance=~", "db_instance=~"))
		if problems := dashboardProblems(t, st, "staging", "renamed label", renamed); len(problems) == 0 {
			t.Error("a dashboard querying db_instance instead of database_instance passed the check")
		}
	})

	t.Run("a restore whose sanitise script fails leaves integration as it was and fires operation failed for that sync only", func(t *testing.T) {
		before := integration.Postgres.Snapshot(t, "people_production")
		dir := withScript(t, integration.Manifests, "people.sql", "UPDATE citizens SET no_such_column = 1;\n")
		r := st.LocalFrom("integration", dir, "people-postgres")
		if r.Err == nil {
			t.Fatalf("the restore with a failing sanitise script succeeded:\n%s", r.Output)
		}
		if !strings.Contains(r.Output, "0-restore") {
			t.Errorf("the failure does not name the failing container 0-restore:\n%s", r.Output)
		}
		if ok, diff := before.Equal(integration.Postgres.Snapshot(t, "people_production")); !ok {
			t.Errorf("the failed restore changed live integration data: %s", diff)
		}
		got := describe(settledAlerts(t, integration, time.Now()))
		// A restore that sanitises also reports a transform (docs/contracts.md), so
		// a failing sanitise fails both operations of that sync, and
		// nothing else.
		want := []string{
			"DatabaseOperationFailed firing people-postgres/people_production restore",
			"DatabaseOperationFailed firing people-postgres/people_production transform",
		}
		if !equal(got, want) {
			t.Errorf("alerts after the failed restore:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("the runbook's commands work against this night: status, dumps, a roll-back of staging alone, a pin", func(t *testing.T) {
		root := filepath.Dir(out)
		cli := func(args ...string) string {
			t.Helper()
			cmd := exec.Command(bin, append(args, "--root", root)...)
			cmd.Env = append(os.Environ(), st.S3.Env()...)
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("envsync %v: %v\n%s", args, err, b)
			}
			return string(b)
		}
		status := cli("status", "--prometheus", staging.Prometheus.URL, "--environment", "staging")
		for _, want := range []string{"people-postgres", "people_production", "restore", "succeeded"} {
			if !strings.Contains(status, want) {
				t.Errorf("status lacks %q:\n%s", want, status)
			}
		}
		if listed := cli("dumps", "staging", "people-postgres", "people_production", "--verify"); !strings.Contains(listed, " verified ") || !strings.Contains(listed, " rows)") || !strings.Contains(listed, "<- latest") {
			t.Errorf("dumps --verify of staging:\n%s", listed)
		}
		// Two more nights of production's backup: three dumps to choose from.
		for range 2 {
			time.Sleep(1100 * time.Millisecond) // keys are to the second
			mustRun("production", "people-postgres")
		}
		var dumps []struct {
			Key    string
			Latest bool
		}
		if err := json.Unmarshal([]byte(cli("dumps", "production", "people-postgres", "people_production", "--json")), &dumps); err != nil || len(dumps) != 3 || !dumps[0].Latest {
			t.Fatalf("production's dumps after three nights: %+v (%v)", dumps, err)
		}
		oldest := dumps[2].Key
		pointer := "people-postgres/latest-people_production.txt"
		before := readObject(t, st.S3, "e2e-staging-database-backups", pointer)
		r := st.Local("staging", "people-postgres", "--filename", path.Base(oldest), "--only", "restore")
		if r.Err != nil || !strings.Contains(r.Output, oldest) {
			t.Fatalf("the roll-back of staging to %s: %v\n%s", oldest, r.Err, r.Output)
		}
		if after := readObject(t, st.S3, "e2e-staging-database-backups", pointer); after != before {
			t.Errorf("rolling staging back alone moved its pointer from %q to %q: integration would read the old data", before, after)
		}
		cli("dumps", "production", "people-postgres", "people_production", "--pin", oldest, "--reason", "staging's roll-back target")
		if dry := cli("dumps", "production", "people-postgres", "people_production", "--prune", "--keep", "2", "--dry-run"); strings.Contains(dry, oldest) {
			t.Errorf("prune would remove the pinned dump:\n%s", dry)
		}
		cli("dumps", "production", "people-postgres", "people_production", "--unpin", oldest)
		if dry := cli("dumps", "production", "people-postgres", "people_production", "--prune", "--keep", "2", "--dry-run"); !strings.Contains(dry, "would remove "+oldest) {
			t.Errorf("once unpinned, prune leaves the oldest dump:\n%s", dry)
		}
	})
}

// settledAlerts waits until e's Prometheus has scraped everything pushed
// before since and evaluated its rules after that, then returns the active
// alerts.
func settledAlerts(t testing.TB, e *stack.Env, since time.Time) []promv1.Alert {
	t.Helper()
	e.Prometheus.Settled(t, since)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alerts, err := e.Prometheus.Alerts(ctx)
	if err != nil {
		t.Fatalf("%s: alerts: %v", e.Name, err)
	}
	return alerts
}

// describe is "alertname state instance/database operation", sorted.
func describe(alerts []promv1.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, fmt.Sprintf("%s %s %s/%s %s", a.Labels["alertname"], a.State,
			a.Labels["database_instance"], a.Labels["database_db_name"], a.Labels["operation"]))
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// personalDataIn dumps every database of an environment as SQL text and
// returns the personal values found in it.
func personalDataIn(t *testing.T, e *stack.Env, ps []Person) []string {
	t.Helper()
	var text strings.Builder
	for _, db := range e.Postgres.Databases(t) {
		cmd := exec.Command(testenv.LookPath(t, "pg_dump", "apt-get install postgresql-client", "/usr/lib/postgresql/*/bin"), "--no-owner", db)
		cmd.Env = e.Postgres.Env(db)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("pg_dump %s in %s: %v", db, e.Name, err)
		}
		text.Write(out)
	}
	if e.MariaDB != nil {
		for _, schema := range e.MariaDB.Schemas(t) {
			cmd := exec.Command("mysqldump", "--protocol=tcp", "-h", e.MariaDB.Host, "-P", fmt.Sprint(e.MariaDB.Port),
				"-u", e.MariaDB.User, "--skip-extended-insert", "--single-transaction", schema)
			cmd.Env = append(os.Environ(), "MYSQL_PWD="+e.MariaDB.Password)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("mysqldump %s in %s: %v", schema, e.Name, err)
			}
			text.Write(out)
		}
	}
	if e.Mongo != nil {
		text.WriteString(mongoText(t, e.Mongo))
	}
	dump := strings.ReplaceAll(text.String(), `\'`, `'`) // mysqldump escapes quotes
	dump = strings.ReplaceAll(dump, `''`, `'`)
	var found []string
	for _, s := range personalStrings(ps) {
		if strings.Contains(dump, s) {
			found = append(found, s)
		}
	}
	if len(found) > 5 {
		found = append(found[:5], fmt.Sprintf("and %d more", len(found)-5))
	}
	return found
}

// personalDataInDumps reads every dump in bucket, decompressed, and returns
// the personal values found in it.
func personalDataInDumps(t *testing.T, s *testenv.S3Server, bucket string, ps []Person) []string {
	t.Helper()
	var text bytes.Buffer
	dumps := 0
	for key := range listKeys(t, s, bucket) {
		base := path.Base(key)
		if strings.HasPrefix(base, "latest-") || strings.HasSuffix(base, ".sha256") {
			continue
		}
		dumps++
		raw := []byte(readObject(t, s, bucket, key))
		var r io.Reader = bytes.NewReader(raw)
		switch {
		case bytes.HasPrefix(raw, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			d, err := zstd.NewReader(r)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			r = d
		case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
			g, err := gzip.NewReader(r)
			if err != nil {
				t.Fatal(err)
			}
			r = g
		}
		if _, err := io.Copy(&text, r); err != nil {
			t.Fatalf("decompressing s3://%s/%s: %v", bucket, key, err)
		}
	}
	if dumps == 0 {
		t.Fatalf("no dumps in %s", bucket)
	}
	dump := strings.ReplaceAll(text.String(), `\'`, `'`)
	var found []string
	for _, v := range personalStrings(ps) {
		if strings.Contains(dump, v) {
			found = append(found, v)
		}
	}
	if len(found) > 5 {
		found = append(found[:5], fmt.Sprintf("and %d more", len(found)-5))
	}
	return found
}

func listKeys(t *testing.T, s *testenv.S3Server, bucket string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys[aws.ToString(o.Key)] = true
		}
	}
	return keys
}

func readObject(t *testing.T, s *testenv.S3Server, bucket, key string) string {
	t.Helper()
	o, err := s.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("reading s3://%s/%s: %v", bucket, key, err)
	}
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatalf("reading s3://%s/%s: %v", bucket, key, err)
	}
	return string(b)
}

// withScript copies a manifests directory, replacing one sanitise script in
// the generated ConfigMap: the job definitions stay the generated ones.
func withScript(t *testing.T, dir, key, content string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	m, err := local.LoadManifests(dst)
	if err != nil {
		t.Fatal(err)
	}
	replaced := false
	for _, cm := range m.ConfigMaps {
		if _, ok := cm.Data[key]; ok {
			cm.Data[key] = content
			writeConfigMap(t, dst, cm)
			replaced = true
		}
	}
	if !replaced {
		t.Fatalf("no ConfigMap in %s holds %s", dir, key)
	}
	return dst
}

func writeConfigMap(t *testing.T, dir string, cm *corev1.ConfigMap) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "configmap-*.yaml"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "name: "+cm.Name+"\n") {
			out, err := yaml.Marshal(cm)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, out, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no file in %s holds ConfigMap %s", dir, cm.Name)
}
