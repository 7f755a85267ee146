package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/envsync/envsync/local"
	"github.com/envsync/envsync/testenv/stack"
)

// grafanaDashboard is the part of Grafana's dashboard JSON model the test
// reads: panels (rows nest theirs), their queries, the template variables.
type grafanaDashboard struct {
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Regex string `json:"regex"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	Title      string             `json:"title"`
	Type       string             `json:"type"`
	Datasource *grafanaDatasource `json:"datasource"`
	Targets    []grafanaQuery     `json:"targets"`
	Panels     []grafanaPanel     `json:"panels"`
}

type grafanaQuery struct {
	RefID      string             `json:"refId"`
	Expr       string             `json:"expr"`
	Datasource *grafanaDatasource `json:"datasource"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// declaredSync is what one generated CronJob says about its sync.
type declaredSync struct {
	Job, Engine, Instance string
	Databases             []string
	Operations            map[string]bool
	// Gated: a restore of the sync runs the personal-data gate.
	Gated bool
}

// declaredSyncs reads the environment's running CronJobs.
func declaredSyncs(t *testing.T, dir string) []declaredSync {
	t.Helper()
	m, err := local.LoadManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []declaredSync
	for _, cj := range m.CronJobs {
		if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
			continue
		}
		spec := cj.Spec.JobTemplate.Spec.Template.Spec
		s := declaredSync{Job: cj.Name, Operations: map[string]bool{}}
		dbs := map[string]bool{}
		for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			env := stack.PlainEnv(c)
			s.Engine, s.Instance = env["DB_ENGINE"], env["DB_INSTANCE"]
			dbs[env["DB_DATABASE"]] = true
			if len(c.Args) == 2 && c.Args[0] == "run" {
				s.Operations[c.Args[1]] = true
				// A restore that sanitises reports a transform too.
				if c.Args[1] == "restore" && env["SANITISE_SCRIPT"] != "" {
					s.Operations["transform"] = true
				}
				s.Gated = s.Gated || env["CLASSIFICATION"] != ""
			}
		}
		for d := range dbs {
			s.Databases = append(s.Databases, d)
		}
		sort.Strings(s.Databases)
		out = append(out, s)
	}
	return out
}

// grafanaBuiltins stand in for Grafana's own variables.
var grafanaBuiltins = strings.NewReplacer(
	"$__rate_interval", "1m", "${__rate_interval}", "1m",
	"$__interval", "1m", "${__interval}", "1m",
	"$__range_s", "86400", "$__range", "1d", "${__range}", "1d",
)

// substitute fills a query's template variables for one sync, as Grafana
// would with that sync's engine and instance selected.
func substitute(expr string, vars []string, s declaredSync) string {
	values := map[string]string{"engine": s.Engine, "instance": s.Instance, "database_engine": s.Engine, "database_instance": s.Instance}
	for _, v := range vars {
		val, ok := values[v]
		if !ok {
			val = ".*"
		}
		re := regexp.MustCompile(`\$\{` + regexp.QuoteMeta(v) + `(:[a-z]+)?\}|\[\[` + regexp.QuoteMeta(v) + `\]\]|\$` + regexp.QuoteMeta(v) + `\b`)
		expr = re.ReplaceAllLiteralString(expr, val)
	}
	return grafanaBuiltins.Replace(expr)
}

var operationMatcher = regexp.MustCompile(`operation\s*(=~?)\s*"([^"]*)"`)

// pertains reports whether a query is about an operation the sync runs in
// this environment: a panel of restores says nothing about a sync that only
// backs up.
func pertains(expr string, s declaredSync) bool {
	if strings.Contains(expr, "db_backup_gate_") && !s.Gated {
		return false // only a restore with a classification runs the gate
	}
	m := operationMatcher.FindStringSubmatch(expr)
	if m == nil {
		return !strings.Contains(expr, "restored_dump") || s.Operations["restore"]
	}
	if m[1] == "=" {
		return s.Operations[m[2]]
	}
	re, err := regexp.Compile("^(?:" + m[2] + ")$")
	if err != nil {
		return true
	}
	for op := range s.Operations {
		if re.MatchString(op) {
			return true
		}
	}
	return false
}

func flatten(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

// checkDashboard runs every query of every panel of env's generated
// dashboard once per sync declared in the environment whose Prometheus the
// query reads (a data source variable per environment: each environment
// has its own Prometheus), and fails when one returns no series for that
// sync.
func checkDashboard(t *testing.T, st *stack.Stack, env string) {
	t.Helper()
	path := filepath.Join(st.Out, env, "dashboard.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dashboardProblems(t, st, env, path, b) {
		t.Error(p)
	}
}

// dashboardProblems is checkDashboard's list of failures for the dashboard
// JSON b.
func dashboardProblems(t *testing.T, st *stack.Stack, env, path string, b []byte) []string {
	t.Helper()
	var problems []string
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var vars []string
	dsEnv := map[string]string{} // data source variable -> environment
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			switch {
			case strings.HasPrefix(v.Regex, "/") && strings.HasSuffix(v.Regex, "/") && len(v.Regex) > 2:
				dsEnv[v.Name] = strings.Trim(v.Regex, "/")
			default:
				dsEnv[v.Name] = env
			}
			continue
		}
		vars = append(vars, v.Name)
	}
	// Longest names first, so that $instance does not eat $instance_name.
	sort.Slice(vars, func(i, j int) bool { return len(vars[i]) > len(vars[j]) })
	targetEnv := func(p grafanaPanel, q grafanaQuery) string {
		ds := q.Datasource
		if ds == nil {
			ds = p.Datasource
		}
		if ds == nil {
			return env
		}
		name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ds.UID, "${"), "$"), "}")
		if e, ok := dsEnv[name]; ok {
			return e
		}
		errorf("%s: panel %q query %s reads data source %q, which is no data source variable", env, p.Title, q.RefID, ds.UID)
		return env
	}
	syncs := map[string][]declaredSync{}
	queries := 0
	for _, p := range flatten(d.Panels) {
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				continue
			}
			queries++
			e := st.Env(targetEnv(p, q))
			if syncs[e.Name] == nil {
				syncs[e.Name] = declaredSyncs(t, e.Manifests)
			}
			for _, s := range syncs[e.Name] {
				expr := substitute(q.Expr, vars, s)
				if !pertains(expr, s) {
					continue
				}
				v, err := e.Prometheus.Query(context.Background(), expr)
				if err != nil {
					errorf("%s: panel %q query %s: %v", env, p.Title, q.RefID, err)
					continue
				}
				found := false
				for _, sample := range v {
					inst, labelled := sample.Metric["database_instance"]
					if !labelled || string(inst) == s.Instance {
						found = true
						break
					}
				}
				if !found {
					errorf("%s dashboard: panel %q query %s (on %s's Prometheus) returns no data for sync %s (%d series)\n  %s", env, p.Title, q.RefID, e.Name, s.Job, len(v), expr)
				}
			}
		}
	}
	if queries == 0 {
		errorf("%s: no panel queries in %s", env, path)
	}
	if len(syncs[env]) == 0 {
		errorf("%s: no declared syncs in %s", env, st.Env(env).Manifests)
	}
	return problems
}
