package rules

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/model/modeltest"
)

func build(t *testing.T, e *model.Estate, env string) *Output {
	t.Helper()
	out, err := Build(e, env)
	if err != nil {
		t.Fatalf("Build(%s): %v", env, err)
	}
	return out
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleEstate is the estate declared in syncs/.
func exampleEstate(t *testing.T) *model.Estate {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	e, err := declare.Load(root)
	if err != nil {
		t.Fatalf("loading the example estate in syncs/: %v", err)
	}
	return e
}

// estates are the estates every property below holds for.
func estates(t *testing.T) map[string]*model.Estate {
	return map[string]*model.Estate{"modeltest": modeltest.Estate(), "syncs": exampleEstate(t)}
}

func TestTheRuleFileHoldsTheSameGroupsAsThePrometheusRule(t *testing.T) {
	out := build(t, modeltest.Estate(), "staging")
	rf := out.RuleFile.(*RuleFile)
	if !bytes.Equal(marshal(t, rf.Groups), marshal(t, out.PrometheusRule.Spec.Groups)) {
		t.Fatal("promtool rule file and PrometheusRule spec differ")
	}
	if out.PrometheusRule.Namespace != "db-sync" || out.PrometheusRule.Kind != "PrometheusRule" ||
		out.PrometheusRule.APIVersion != "monitoring.coreos.com/v1" {
		t.Fatalf("PrometheusRule object: %+v", out.PrometheusRule.TypeMeta)
	}
	tests := out.UnitTests.(*TestFile)
	if !slices.Equal(tests.RuleFiles, []string{"rules.yaml"}) {
		t.Fatalf("rule_files = %v, want [rules.yaml]", tests.RuleFiles)
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	for name, e := range estates(t) {
		for _, env := range e.Environments {
			a, b := build(t, e, env.Name), build(t, e, env.Name)
			for i, pair := range [][2]any{{a.PrometheusRule, b.PrometheusRule}, {a.UnitTests, b.UnitTests}} {
				if !bytes.Equal(marshal(t, pair[0]), marshal(t, pair[1])) {
					t.Errorf("%s/%s: output %d differs between two builds", name, env.Name, i)
				}
			}
		}
	}
}

func TestEveryRuleHasPolicyLabelsAndLinkedAnnotations(t *testing.T) {
	e := modeltest.Estate()
	for _, env := range e.Environments {
		for _, g := range build(t, e, env.Name).PrometheusRule.Spec.Groups {
			for _, r := range g.Rules {
				if _, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr.StrVal); err != nil {
					t.Errorf("%s: %v", r.Alert, err)
				}
				if r.Labels["severity"] != "warning" || r.Labels["team"] != "platform" || r.Labels["environment"] != env.Name {
					t.Errorf("%s/%s: labels %v", env.Name, r.Alert, r.Labels)
				}
				if want := "https://docs.example.org/runbooks/envsync#" + r.Alert; r.Annotations["runbook_url"] != want {
					t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
				}
				if r.Annotations["dashboard_url"] != "https://grafana.example.org/d/envsync-"+env.Name {
					t.Errorf("%s: dashboard_url %q", r.Alert, r.Annotations["dashboard_url"])
				}
				for _, l := range []string{LabelOperation, LabelDatabase, LabelInstance} {
					if !strings.Contains(r.Annotations["description"], Template(l)) {
						t.Errorf("%s: description does not name %s: %q", r.Alert, l, r.Annotations["description"])
					}
				}
			}
		}
	}
}

// selections parses the rules named alert and returns, per rule, its label
// and the vector selectors of its expression.
func selections(t *testing.T, out *Output, alert, label string) map[string][][]*labels.Matcher {
	t.Helper()
	got := map[string][][]*labels.Matcher{}
	for _, g := range out.PrometheusRule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != alert {
				continue
			}
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr.StrVal)
			if err != nil {
				t.Fatal(err)
			}
			key := r.Labels[label]
			if r.Labels[LabelUndeclared] == "true" {
				key = "undeclared " + key
			}
			if _, dup := got[key]; dup {
				t.Fatalf("two %s rules with %s=%q", alert, label, key)
			}
			got[key] = nil
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					got[key] = append(got[key], vs.LabelMatchers)
				}
				return nil
			})
		}
	}
	return got
}

func selects(sets [][]*labels.Matcher, metric string, l map[string]string) bool {
	for _, ms := range sets {
		ok := true
		for _, m := range ms {
			v := l[m.Name]
			if m.Name == labels.MetricName {
				v = metric
			}
			ok = ok && m.Matches(v)
		}
		if ok {
			return true
		}
	}
	return false
}

// The generated regexes replace hand-kept lists: every declared series is
// selected by exactly the rule of its own tier (taking long) and of its own
// class (not completed), in both estates.
func TestEachSeriesIsSelectedByTheRuleOfItsOwnTierAndClass(t *testing.T) {
	for name, e := range estates(t) {
		for _, env := range e.Environments {
			out := build(t, e, env.Name)
			long := map[model.Operation]map[string][][]*labels.Matcher{
				model.Backup:  selections(t, out, AlertBackupTakingLong, LabelTier),
				model.Restore: selections(t, out, AlertRestoreTakingLong, LabelTier),
				model.Publish: selections(t, out, AlertPublishTakingLong, LabelTier),
			}
			classes := selections(t, out, AlertNotCompleted, LabelClass)
			for _, s := range Expected(e, env.Name) {
				l := seriesLabels(s)
				if rules, ok := long[s.Operation]; ok {
					for tier, sets := range rules {
						if got, want := selects(sets, MetricState, l), tier == s.Tier; got != want {
							t.Errorf("%s/%s: %s %s/%s (tier %s): selected by the %s rule = %v",
								name, env.Name, s.Operation, s.Instance, s.Database, s.Tier, tier, got)
						}
					}
					if _, ok := rules[s.Tier]; !ok {
						t.Errorf("%s/%s: no taking-long rule for tier %s of %s", name, env.Name, s.Tier, s.Operation)
					}
				}
				l[LabelState] = "succeeded"
				for class, sets := range classes {
					if got, want := selects(sets, MetricTimestamp, l), s.Runs && class == s.Class; got != want {
						t.Errorf("%s/%s: %s %s/%s (class %s, runs %v): selected by the %s not-completed rule = %v",
							name, env.Name, s.Operation, s.Instance, s.Database, s.Class, s.Runs, class, got)
					}
				}
			}
		}
	}
}

func TestExpectedSeriesFollowTheJobs(t *testing.T) {
	e := modeltest.Estate()
	key := func(s Series) string {
		return fmt.Sprintf("%s/%s/%s runs=%v", s.Instance, s.Database, s.Operation, s.Runs)
	}
	var integration []string
	for _, s := range Expected(e, "integration") {
		integration = append(integration, key(s))
	}
	for _, c := range []struct {
		why  string
		want string
		in   bool
	}{
		{"a backup-only job reports its backup", "account-api-postgres/account-api_production/backup runs=true", true},
		{"a backup-only job reports no restore", "account-api-postgres/account-api_production/restore runs=true", false},
		{"a restore that sanitises reports a transform", "chat-postgres/govuk_chat_production/transform runs=true", true},
		{"a disabled job is watched but not expected", "retired-postgres/retired_production/restore runs=false", true},
		{"a suspended restore is watched but not expected", "signon-mysql/signon_production/restore runs=false", true},
	} {
		if slices.Contains(integration, c.want) != c.in {
			t.Errorf("%s: %q in %v = %v", c.why, c.want, integration, !c.in)
		}
	}
	for _, s := range Expected(e, "staging") {
		if s.Instance == "retired-postgres" {
			t.Errorf("an absent job reports nothing, got %s", key(s))
		}
		if s.Instance == "shared-documentdb" && s.Operation == model.Transform && s.Database != "govuk_assets_production" {
			t.Errorf("only databases with a script are transformed, got %s", key(s))
		}
	}
}

func TestNotCompletedIsArmedOnlyOnTheClassDays(t *testing.T) {
	out := build(t, modeltest.Estate(), "staging")
	var expr string
	for _, g := range out.PrometheusRule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == AlertNotCompleted && r.Labels[LabelClass] == "weekdays" {
				expr = r.Expr.StrVal
			}
		}
	}
	if !strings.Contains(expr, "> 90000") || !strings.HasSuffix(expr, "\nand on () (day_of_week() == 2 or day_of_week() == 3 or day_of_week() == 4 or day_of_week() == 5)") {
		t.Fatalf("weekdays not-completed rule is not 25h armed Tuesday to Friday: %s", expr)
	}
}

func TestTheDashboardLinkPointsAtTheEnvironmentsDashboard(t *testing.T) {
	e := modeltest.Estate()
	for url, want := range map[string]string{
		"https://grafana.example.org/d/envsync":                 "https://grafana.example.org/d/envsync-staging",
		"https://grafana.example.org/d/envsync/db-sync?orgId=1": "https://grafana.example.org/d/envsync-staging/db-sync?orgId=1",
		"https://grafana.example.org/d/envsync-other":           "https://grafana.example.org/d/envsync-other",
		"https://status.example.org/":                           "https://status.example.org/",
	} {
		e.Alerting.DashboardURL = url
		if got := DashboardURL(e, "staging"); got != want {
			t.Errorf("DashboardURL(%q) = %q, want %q", url, got, want)
		}
	}
}

func TestAnEnvironmentWithItsOwnGrafanaLinksItsAlertsThereNotToAnotherEnvironments(t *testing.T) {
	e := modeltest.Estate()
	e.Alerting.DashboardURL = "https://grafana.production.example.org/d/envsync"
	for i := range e.Environments {
		if e.Environments[i].Name == "staging" {
			e.Environments[i].GrafanaURL = "https://grafana.staging.example.org"
		}
	}
	if got, want := DashboardURL(e, "staging"), "https://grafana.staging.example.org/d/envsync-staging"; got != want {
		t.Errorf("staging: %q, want %q", got, want)
	}
	if got, want := DashboardURL(e, "integration"), "https://grafana.production.example.org/d/envsync-integration"; got != want {
		t.Errorf("integration, without a Grafana of its own: %q, want %q", got, want)
	}
	n := 0
	for _, g := range build(t, e, "staging").PrometheusRule.Spec.Groups {
		for _, r := range g.Rules {
			n++
			if u := r.Annotations["dashboard_url"]; u != "https://grafana.staging.example.org/d/envsync-staging" {
				t.Errorf("%s links to %q", r.Alert, u)
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}

func TestBadPolicyIsAnErrorNamingWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		name   string
		env    string
		break_ func(e *model.Estate)
		want   string
	}{
		{"an unknown environment", "qa", func(*model.Estate) {}, `unknown environment "qa"`},
		{"a tier without a restore threshold", "staging", func(e *model.Estate) { delete(e.Tiers[0].LongRunning, model.Restore) },
			"tier quicker has no long-running threshold for restore, which sync chat-postgres uses in staging"},
		{"transforms without a limit", "staging", func(e *model.Estate) { e.Environments[1].TransformLimit = 0 },
			"environment staging runs transforms (sync shared-documentdb) but has no transform time limit"},
		{"a class without a window", "staging", func(e *model.Estate) { e.Classes[1].Window = 0 },
			"schedule class weekdays has no not-completed window, and sync chat-postgres uses it in staging"},
		{"an invalid label name", "staging", func(e *model.Estate) { e.Alerting.Labels["team-name"] = "x" },
			`alerting label "team-name" is not a valid Prometheus label name`},
		{"an unknown tier", "staging", func(e *model.Estate) { e.Syncs[1].Tier[model.Backup] = "quick" },
			`sync chat-postgres in staging: unknown tier "quick" for backup`},
		{"an unknown class", "integration", func(e *model.Estate) { e.Syncs[0].Jobs[1].Class = "monthly" },
			`sync account-api-postgres in integration: unknown schedule class "monthly"`},
		{"no severity", "staging", func(e *model.Estate) { e.Alerting.Severity = "" }, "alerting severity is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := modeltest.Estate()
			c.break_(e)
			_, err := Build(e, c.env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestWeekdayOfPromtoolClock(t *testing.T) {
	for _, c := range []struct {
		at   time.Duration
		want time.Weekday
	}{{0, time.Thursday}, {23 * time.Hour, time.Thursday}, {24 * time.Hour, time.Friday}, {4*24*time.Hour + time.Hour, time.Monday}, {7 * 24 * time.Hour, time.Thursday}} {
		if got, real := weekdayAt(c.at), time.Unix(int64(c.at/time.Second), 0).UTC().Weekday(); got != c.want || got != real {
			t.Errorf("weekdayAt(%v) = %v, want %v (time package: %v)", c.at, got, c.want, real)
		}
	}
}

// writePromtool writes the rule file and tests of out into a new directory.
func writePromtool(t *testing.T, ruleFile, tests any) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, RuleFileName), marshal(t, ruleFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules_test.yaml"), marshal(t, tests), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestThePrometheusRuleCarriesTheDeclaredLabelsInTheDeclaredNamespace(t *testing.T) {
	e := modeltest.Estate()
	for i := range e.Environments {
		e.Environments[i].Monitoring = model.Monitoring{RuleNamespace: "monitoring", RuleLabels: map[string]string{"release": "kube-prometheus-stack", "envsync.io/environment": "elsewhere"}}
	}
	pr := build(t, e, "staging").PrometheusRule
	if pr.Namespace != "monitoring" {
		t.Errorf("namespace %q, want monitoring", pr.Namespace)
	}
	if pr.Labels["release"] != "kube-prometheus-stack" || pr.Labels["envsync.io/environment"] != "staging" {
		t.Errorf("labels %v: want the declared release label, and the environment label kept", pr.Labels)
	}
	for k := range pr.Labels {
		if strings.HasPrefix(k, "envsync/") {
			t.Errorf("label %s: every envsync label key starts with envsync.io/", k)
		}
	}
}

// A series that no job of the environment declares (a manual job, another
// chart's) is selected by the undeclared tier's and class's rules, and by
// no other; declared series never by those (the test above).
func TestAnUndeclaredSeriesIsCoveredByTheUndeclaredRulesOnly(t *testing.T) {
	for name, e := range estates(t) {
		u := e.Alerting.Undeclared
		if u == nil {
			t.Fatalf("%s declares no alerting.undeclared", name)
		}
		for _, env := range e.Environments {
			out := build(t, e, env.Name)
			for _, c := range []struct {
				alert, label, want string
				op                 model.Operation
				metric             string
			}{
				{AlertBackupTakingLong, LabelTier, "undeclared " + u.Tier, model.Backup, MetricState},
				{AlertRestoreTakingLong, LabelTier, "undeclared " + u.Tier, model.Restore, MetricState},
				{AlertNotCompleted, LabelClass, "undeclared " + e.UndeclaredClass(env), model.Backup, MetricTimestamp},
				{AlertNotCompleted, LabelClass, "undeclared " + e.UndeclaredClass(env), model.Restore, MetricTimestamp},
			} {
				l := seriesLabels(undeclaredExample(c.op, "", ""))
				l[LabelState] = "succeeded"
				selectedBy := []string{}
				for key, sets := range selections(t, out, c.alert, c.label) {
					if selects(sets, c.metric, l) {
						selectedBy = append(selectedBy, key)
					}
				}
				if len(selectedBy) != 1 || selectedBy[0] != c.want {
					t.Errorf("%s/%s: an undeclared %s is selected by the %s rules %q, want only %q", name, env.Name, c.op, c.alert, selectedBy, c.want)
				}
			}
		}
	}
}

// Undeclared series keep their environment's days: with no class named at
// the estate, each environment's own class is the undeclared one (a
// weekday-only backup in staging is not "not completed" over the weekend);
// an environment may name another, and the estate's class applies where
// the environment names none.
func TestUndeclaredSeriesKeepTheirEnvironmentsDays(t *testing.T) {
	e := modeltest.Estate()
	e.Alerting.Undeclared = &model.Undeclared{Tier: "quicker"}
	for i := range e.Environments {
		env := e.Environments[i]
		if got := e.UndeclaredClass(env); got != env.Class {
			t.Errorf("%s: undeclared class %q, want its own %q", env.Name, got, env.Class)
		}
		out := build(t, e, env.Name)
		if _, ok := selections(t, out, AlertNotCompleted, LabelClass)["undeclared "+env.Class]; !ok {
			t.Errorf("%s: no not-completed rule of its class %s for undeclared series", env.Name, env.Class)
		}
	}
	e.Environments[1].UndeclaredClass = "daily"
	if got := e.UndeclaredClass(e.Environments[1]); got != "daily" {
		t.Errorf("an environment's undeclaredClass is not used: %q", got)
	}
	e.Alerting.Undeclared.Class = "weekly-monday"
	if got := e.UndeclaredClass(e.Environments[0]); got != "weekly-monday" {
		t.Errorf("the estate's undeclared class is not used where the environment names none: %q", got)
	}
}
