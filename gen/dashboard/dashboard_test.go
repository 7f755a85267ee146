package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/model/modeltest"
	"github.com/envsync/envsync/testenv"
)

func build(t *testing.T, e *model.Estate, env string) *Dashboard {
	t.Helper()
	d, err := Build(e, env)
	if err != nil {
		t.Fatalf("Build(%s): %v", env, err)
	}
	return d
}

func estates(t *testing.T) map[string]*model.Estate {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	e, err := declare.Load(root)
	if err != nil {
		t.Fatalf("loading the example estate in syncs/: %v", err)
	}
	return map[string]*model.Estate{"modeltest": modeltest.Estate(), "syncs": e}
}

func panel(t *testing.T, d *Dashboard, title string) Panel {
	t.Helper()
	for _, p := range d.Panels {
		if p.Title == title {
			return p
		}
	}
	t.Fatalf("no panel %q", title)
	return Panel{}
}

func TestEveryQueryParses(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for name, e := range estates(t) {
		for _, env := range e.Environments {
			d := build(t, e, env.Name)
			n := 0
			for _, panel := range d.Panels {
				for _, target := range panel.Targets {
					if _, err := p.ParseExpr(Placeholders(target.Expr)); err != nil {
						t.Errorf("%s/%s: panel %q: %v", name, env.Name, panel.Title, err)
					}
					n++
				}
			}
			if n < 8 {
				t.Errorf("%s/%s: only %d queries", name, env.Name, n)
			}
		}
	}
}

func TestAQueryThatDoesNotParseIsAnError(t *testing.T) {
	d := build(t, modeltest.Estate(), "staging")
	d.Panels[1].Targets[0].Expr = `time() - max by (operation (db_backup_job_state)`
	if err := checkQueries(d); err == nil || !strings.Contains(err.Error(), `panel "Time since last success per operation", query A does not parse`) {
		t.Fatalf("error %v", err)
	}
}

func TestGrafanaVariablesBecomePlaceholdersPromQLAccepts(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x{a=~"$instance"}[$__rate_interval])`:     `rate(x{a=~".*"}[5m])`,
		`increase(x{a=~"${instance:regex}"}[$__range])`: `increase(x{a=~".*"}[5m])`,
		`x{a=~"${engine}"}`:                             `x{a=~".*"}`,
	} {
		if got := Placeholders(in); got != want {
			t.Errorf("Placeholders(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUIDIsStablePerEnvironment(t *testing.T) {
	e := modeltest.Estate()
	if got := build(t, e, "staging").UID; got != "envsync-staging" {
		t.Fatalf("uid %q, want envsync-staging", got)
	}
	e.Syncs = e.Syncs[:2]
	if got := build(t, e, "staging").UID; got != "envsync-staging" {
		t.Fatalf("uid changed with the syncs: %q", got)
	}
	e.Alerting.DashboardUID = strings.Repeat("x", 40)
	if _, err := Build(e, "staging"); err == nil || !strings.Contains(err.Error(), "must be at most 40") {
		t.Fatalf("a uid over Grafana's 40 characters: error %v", err)
	}
}

func TestVariablesArePresent(t *testing.T) {
	d := build(t, modeltest.Estate(), "staging")
	byName := map[string]Variable{}
	for _, v := range d.Templating.List {
		byName[v.Name] = v
	}
	for _, c := range []struct {
		name, typ, query string
		all              bool
	}{
		{"datasource", "datasource", "prometheus", false},
		{"ds_production", "datasource", "prometheus", false},
		{"ds_integration", "datasource", "prometheus", false},
		{"engine", "query", "label_values(db_backup_job_state, database_engine)", true},
		{"instance", "query", `label_values(db_backup_job_state{database_engine=~"$engine"}, database_instance)`, true},
	} {
		v, ok := byName[c.name]
		if !ok {
			t.Errorf("no variable %s", c.name)
			continue
		}
		if v.Type != c.typ || v.Query != c.query || v.IncludeAll != c.all || v.Multi != c.all {
			t.Errorf("variable %s = %+v", c.name, v)
		}
		if c.all && v.AllValue != ".*" {
			t.Errorf("variable %s: allValue %q, want .*", c.name, v.AllValue)
		}
	}
	if _, ok := byName["ds_staging"]; ok {
		t.Error("the dashboard's own environment reads ${datasource}, not a ds_ variable")
	}
}

func TestOutputIsDeterministicAndStartsWithTheNotice(t *testing.T) {
	for name, e := range estates(t) {
		for _, env := range e.Environments {
			a, err := JSON(build(t, e, env.Name))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := JSON(build(t, e, env.Name))
			if !bytes.Equal(a, b) {
				t.Errorf("%s/%s: two builds differ", name, env.Name)
			}
			if want := "{\n  \"__comment\": \"" + Notice + "\""; !bytes.HasPrefix(a, []byte(want)) {
				t.Errorf("%s/%s: JSON starts %q", name, env.Name, a[:60])
			}
			var generic map[string]any
			if err := json.Unmarshal(a, &generic); err != nil || generic["schemaVersion"] != float64(SchemaVersion) {
				t.Errorf("%s/%s: schemaVersion %v (%v)", name, env.Name, generic["schemaVersion"], err)
			}
		}
	}
}

func TestStalenessTurnsRedPastEightDays(t *testing.T) {
	d := build(t, modeltest.Estate(), "staging")
	red := func(th *Thresholds) bool {
		return th != nil && len(th.Steps) == 2 && th.Steps[0].Value == nil && th.Steps[0].Color == "green" &&
			th.Steps[1].Color == "red" && *th.Steps[1].Value == 691200
	}
	if th := panel(t, d, "Time since last success per operation").FieldConfig.Defaults.Thresholds; !red(th) {
		t.Errorf("time since last success thresholds: %+v", th)
	}
	if th := panel(t, d, "Data age per sync and environment").FieldConfig.Defaults.Thresholds; !red(th) {
		t.Errorf("data age thresholds: %+v", th)
	}
	found := false
	for _, o := range panel(t, d, "Latest state, duration and size per operation").FieldConfig.Overrides {
		for _, p := range o.Properties {
			if th, ok := p.Value.(*Thresholds); ok && o.Matcher.Options == "Since last success" {
				found = red(th)
			}
		}
	}
	if !found {
		t.Error("the table's Since last success column does not turn red past 8 days")
	}
}

func TestPanelsCoverEveryViewWithoutOverlapping(t *testing.T) {
	d := build(t, modeltest.Estate(), "staging")
	want := map[string]string{
		"Latest state, duration and size per operation": "table",
		"Time since last success per operation":         "bargauge",
		"Data age per sync and environment":             "table",
		"State timeline":                                "state-timeline",
		"Durations over time":                           "timeseries",
		"File sizes over time":                          "timeseries",
		"Personal-data gate findings":                   "timeseries",
	}
	ids := map[int]bool{}
	cells := map[[2]int]string{}
	for _, p := range d.Panels {
		if want[p.Title] != p.Type {
			t.Errorf("panel %q has type %q, want %q", p.Title, p.Type, want[p.Title])
		}
		delete(want, p.Title)
		if ids[p.ID] {
			t.Errorf("duplicate panel id %d", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.X < 0 || g.W <= 0 || g.X+g.W > 24 || g.H <= 0 {
			t.Errorf("panel %q off the grid: %+v", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Fatalf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		for _, target := range p.Targets {
			if !strings.Contains(target.Expr, `database_engine=~"$engine", database_instance=~"$instance"`) {
				t.Errorf("panel %q ignores the engine and instance variables: %s", p.Title, target.Expr)
			}
		}
	}
	for title := range want {
		t.Errorf("missing panel %q", title)
	}
}

func TestDataAgeReadsEachEnvironmentForItsDeclaredInstances(t *testing.T) {
	d := build(t, modeltest.Estate(), "staging")
	p := panel(t, d, "Data age per sync and environment")
	if p.Datasource.UID != "-- Mixed --" {
		t.Fatalf("data age must mix data sources, got %+v", p.Datasource)
	}
	want := []struct{ ds, instances string }{
		{"${ds_production}", `"account-api-postgres|chat-postgres|retired-postgres|shared-documentdb|whitehall-mysql"`},
		{"${datasource}", `"chat-postgres|shared-documentdb|whitehall-mysql"`}, // retired-postgres is absent in staging
		{"${ds_integration}", `"account-api-postgres|chat-postgres|retired-postgres|signon-mysql|whitehall-mysql"`},
	}
	if len(p.Targets) != len(want) {
		t.Fatalf("%d targets, want one per environment", len(p.Targets))
	}
	for i, w := range want {
		tg := p.Targets[i]
		if tg.Datasource.UID != w.ds || !strings.Contains(tg.Expr, "database_instance=~"+w.instances) {
			t.Errorf("target %s: datasource %s, expr %s; want %s and %s", tg.RefID, tg.Datasource.UID, tg.Expr, w.ds, w.instances)
		}
	}
}

func TestConfigMapCarriesTheDashboardForTheSidecar(t *testing.T) {
	e := modeltest.Estate()
	d := build(t, e, "integration")
	cm, err := ConfigMap(e, "integration", d)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := JSON(d)
	if cm.Labels["grafana_dashboard"] != "1" || cm.Namespace != "db-sync" || cm.Kind != "ConfigMap" {
		t.Fatalf("ConfigMap %+v", cm.ObjectMeta)
	}
	if got := cm.Data["envsync-integration.json"]; got != string(data) {
		t.Fatalf("ConfigMap data keys %v do not hold the dashboard JSON", slices.Collect(func(yield func(string) bool) {
			for k := range cm.Data {
				yield(k)
			}
		}))
	}
}

// promqlTest is the part of promtool's test format that evaluates a query.
type promqlTest struct {
	RuleFiles          []string `json:"rule_files"`
	EvaluationInterval string   `json:"evaluation_interval"`
	Tests              []struct {
		Interval    string              `json:"interval"`
		InputSeries []map[string]string `json:"input_series"`
		ExprTests   []exprTest          `json:"promql_expr_test"`
	} `json:"tests"`
}

type exprTest struct {
	Expr       string      `json:"expr"`
	EvalTime   string      `json:"eval_time"`
	ExpSamples []expSample `json:"exp_samples"`
}

type expSample struct {
	Labels string  `json:"labels"`
	Value  float64 `json:"value"`
}

// The data age query, evaluated by the real promtool: a restored
// environment shows the age of the dump it restored (not of its restore), an
// environment that only backs up shows the age of its last backup, and an
// instance declared elsewhere only is left out.
func TestDataAgeIsTheAgeOfTheRestoredDumpOrElseOfTheLastBackup(t *testing.T) {
	d := build(t, modeltest.Estate(), "integration")
	// At 10h: chat restored at 3h a dump taken at 1h, then backed up at 4h;
	// account-api only backs up, last at 2h; shared-documentdb is not in
	// integration.
	chat := `database_instance="chat-postgres", database_db_name="govuk_chat_production"`
	dataAgeAt10h(t, d, []map[string]string{
		series("db_backup_restored_dump_timestamp_seconds", chat+`, operation="restore", instance="p1"`, 1),
		series("db_backup_job_status_timestamp_seconds", chat+`, operation="backup", state="succeeded", instance="p1"`, 4),
		series("db_backup_job_status_timestamp_seconds", `database_instance="account-api-postgres", database_db_name="account-api_production", operation="backup", state="succeeded", instance="p2"`, 2),
		series("db_backup_job_status_timestamp_seconds", `database_instance="shared-documentdb", database_db_name="publisher_production", operation="backup", state="succeeded", instance="p3"`, 2),
	}, []expSample{
		{Labels: `{database_db_name="account-api_production", database_instance="account-api-postgres"}`, Value: 8 * 3600},
		{Labels: `{database_db_name="govuk_chat_production", database_instance="chat-postgres"}`, Value: 9 * 3600},
	})
}

func TestTheEnvironmentsDeclaredDataSourceIsSelectedByDefault(t *testing.T) {
	e := modeltest.Estate()
	for i := range e.Environments {
		if e.Environments[i].Name == "staging" {
			e.Environments[i].GrafanaDatasource = "Prometheus (staging)"
		}
	}
	for env, want := range map[string]any{"staging": "Prometheus (staging)", "integration": ""} { // "": none chosen, Grafana picks
		for _, v := range build(t, e, env).Templating.List {
			if v.Name == VarDatasource && v.Current.Value != want {
				t.Errorf("%s: datasource variable defaults to %v, want %v", env, v.Current.Value, want)
			}
		}
	}
}

func TestTheDashboardConfigMapGoesWhereTheGrafanaSidecarLooksWithTheDeclaredLabels(t *testing.T) {
	e := modeltest.Estate()
	for i := range e.Environments {
		e.Environments[i].Monitoring = model.Monitoring{DashboardNamespace: "monitoring", DashboardLabels: map[string]string{"grafana_folder": "Databases", "app.kubernetes.io/name": "not-envsync"}}
	}
	cm, err := ConfigMap(e, "staging", build(t, e, "staging"))
	if err != nil {
		t.Fatal(err)
	}
	if cm.Namespace != "monitoring" {
		t.Errorf("namespace %q, want the declared monitoring", cm.Namespace)
	}
	for k, want := range map[string]string{"grafana_dashboard": "1", "grafana_folder": "Databases", "app.kubernetes.io/name": "envsync", "envsync.io/environment": "staging"} {
		if cm.Labels[k] != want {
			t.Errorf("label %s = %q, want %q (labels %v)", k, cm.Labels[k], want, cm.Labels)
		}
	}
}

// In an estate that publishes sanitised dumps, an environment that only
// publishes shows the age of its last publish, and the file sizes panel
// shows the published dumps' sizes.
func TestDataAgeIsTheAgeOfTheLastPublishWhereAnEnvironmentPublishes(t *testing.T) {
	d := build(t, estates(t)["syncs"], "production")
	if sizes := panel(t, d, "File sizes over time").Targets[0].Expr; !strings.Contains(sizes, `operation=~"backup|publish"`) {
		t.Errorf("the file sizes panel leaves publishes out: %s", sizes)
	}
	dataAgeAt10h(t, d, []map[string]string{
		series("db_backup_job_status_timestamp_seconds", `database_instance="chat-postgres", database_db_name="govuk_chat_production", operation="publish", state="succeeded", instance="p1"`, 2),
	}, []expSample{
		{Labels: `{database_db_name="govuk_chat_production", database_instance="chat-postgres"}`, Value: 8 * 3600},
	})
}

// series is one input series of a promtool test: metric with labels (a
// Postgres job's), its value a constant timestamp of hour h.
func series(metric, labels string, h int) map[string]string {
	return map[string]string{
		"series": metric + "{" + labels + `, database_engine="postgres", job="db-backup"}`,
		"values": fmt.Sprintf("%d+0x10", h*3600),
	}
}

// dataAgeAt10h has the real promtool evaluate d's data age query for its
// own environment, at 10h, on input, and compare it with want.
func dataAgeAt10h(t *testing.T, d *Dashboard, input []map[string]string, want []expSample) {
	t.Helper()
	promtool := testenv.LookPath(t, "promtool", "apt-get install prometheus")
	var expr string
	for _, tg := range panel(t, d, "Data age per sync and environment").Targets {
		if tg.Datasource.UID == "${datasource}" {
			expr = Placeholders(tg.Expr)
		}
	}
	var file promqlTest
	file.RuleFiles = []string{}
	file.EvaluationInterval = "1m"
	file.Tests = append(file.Tests, struct {
		Interval    string              `json:"interval"`
		InputSeries []map[string]string `json:"input_series"`
		ExprTests   []exprTest          `json:"promql_expr_test"`
	}{Interval: "1h", InputSeries: input, ExprTests: []exprTest{{Expr: expr, EvalTime: "10h", ExpSamples: want}}})
	dir := t.TempDir()
	b, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "test.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", "test.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s\n%s", err, out, b)
	}
}
