// Package rules is the alerting policy of an estate: it turns the model into
// a PrometheusRule per environment, the same groups as a promtool rule file,
// and promtool unit tests that prove every alert fires after its threshold
// and stays silent before it and on the days its class is not armed.
//
// The instance regexes that hand-written rules keep by hand ("quicker" vs
// "slower" databases, "weekday" vs "weekly" syncs) are generated here from
// each sync's tier and schedule class.
package rules

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	promModel "github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/envsync/envsync/model"
)

// Alert names. The runbook anchor of each is its name.
const (
	AlertFailed            = "DatabaseOperationFailed"
	AlertBackupTakingLong  = "DatabaseBackupTakingLong"
	AlertRestoreTakingLong = "DatabaseRestoreTakingLong"
	AlertPublishTakingLong = "DatabasePublishTakingLong"
	AlertTransformLong     = "DatabaseTransformTakingLong"
	AlertNotCompleted      = "DatabaseOperationNotCompleted"
	AlertNeverReported     = "DatabaseOperationNeverReported"
	AlertPersonalData      = "DatabasePersonalDataFound"
)

// Output is what Build returns for one environment.
type Output struct {
	PrometheusRule *monitoringv1.PrometheusRule
	// RuleFile marshals to a promtool rule file holding the same groups.
	RuleFile any
	// UnitTests marshals to a promtool test file whose rule_files is rules.yaml.
	UnitTests any
	// SuspensionTests, when not nil, marshals to SuspensionTestFileName:
	// the tests of the expiry alerts of dated suspensions, over
	// SuspensionRules (SuspensionRuleFileName).
	SuspensionTests, SuspensionRules any
}

// RuleFile is a Prometheus rule file (what promtool check rules reads).
type RuleFile struct {
	Groups []monitoringv1.RuleGroup `json:"groups"`
}

// kind says which test shape proves an alert.
type kind int

const (
	kindFailed kind = iota
	kindTakingLong
	kindNotCompleted
	kindNeverReported
	kindPersonalData
)

// alert is a generated alerting rule with what its tests need to know.
type alert struct {
	rule   monitoringv1.Rule
	kind   kind
	series []Series      // the declared series it selects; empty: all
	hold   time.Duration // for: or the not-completed window
	class  model.Class
	// annotate renders the annotations with label references produced by
	// ref: Prometheus templates in the rule, literal values in the tests.
	annotate func(ref func(label string) string) map[string]string
}

// Build returns the alert rules of one environment and their promtool tests.
func Build(e *model.Estate, env string) (*Output, error) {
	environment, ok := e.Environment(env)
	if !ok {
		return nil, fmt.Errorf("rules: unknown environment %q", env)
	}
	b := &builder{e: e, env: environment, universe: Expected(e, env)}
	if err := b.checkLabels(); err != nil {
		return nil, err
	}
	groups, alerts, err := b.groups()
	if err != nil {
		return nil, err
	}
	expiries := b.suspensions()
	var suspensionRules any
	if len(expiries) > 0 {
		g := monitoringv1.RuleGroup{Name: "envsync-suspensions"}
		for _, e := range expiries {
			g.Rules = append(g.Rules, e.rule)
		}
		groups = append(groups, g)
		suspensionRules = &RuleFile{Groups: []monitoringv1.RuleGroup{g}}
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr.StrVal); err != nil {
				return nil, fmt.Errorf("rules: environment %s, group %s, rule %s%s: generated PromQL does not parse: %w\n%s",
					env, g.Name, r.Alert, r.Record, err, r.Expr.StrVal)
			}
		}
	}
	tests, err := b.unitTests(alerts)
	if err != nil {
		return nil, err
	}
	var suspensionTests any
	if t := b.suspensionTests(expiries); t != nil {
		suspensionTests = t
	}
	pr := &monitoringv1.PrometheusRule{
		TypeMeta: metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusRuleKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:      "envsync",
			Namespace: cmp.Or(environment.Monitoring.RuleNamespace, environment.Namespace),
			Labels: withLabels(map[string]string{
				"app.kubernetes.io/name":       "envsync",
				"app.kubernetes.io/managed-by": "envsync",
				model.LabelEnvironment:         env,
			}, environment.Monitoring.RuleLabels),
		},
		Spec: monitoringv1.PrometheusRuleSpec{Groups: groups},
	}
	return &Output{PrometheusRule: pr, RuleFile: &RuleFile{Groups: groups}, UnitTests: tests, SuspensionTests: suspensionTests, SuspensionRules: suspensionRules}, nil
}

// withLabels adds extra to base; base's keys win, so that no declaration
// removes what identifies the object.
func withLabels(base, extra map[string]string) map[string]string {
	for k, v := range extra {
		if _, ok := base[k]; !ok {
			base[k] = v
		}
	}
	return base
}

type builder struct {
	e        *model.Estate
	env      model.Environment
	universe []Series
}

func (b *builder) checkLabels() error {
	for name, value := range b.e.Alerting.Labels {
		if !promModel.LegacyValidation.IsValidLabelName(name) {
			return fmt.Errorf("rules: alerting label %q is not a valid Prometheus label name", name)
		}
		if strings.Contains(value, "{{") {
			return fmt.Errorf("rules: alerting label %s=%q must not hold a template", name, value)
		}
	}
	if b.e.Alerting.Severity == "" {
		return fmt.Errorf("rules: alerting severity is empty")
	}
	// A series of an unknown tier or class would be watched by no rule.
	for _, s := range b.universe {
		if _, ok := b.e.Tier(s.Tier); !ok && s.Operation != model.Transform {
			return fmt.Errorf("rules: sync %s in %s: unknown tier %q for %s", s.Sync, b.env.Name, s.Tier, s.Operation)
		}
		if _, ok := b.e.Class(s.Class); !ok {
			return fmt.Errorf("rules: sync %s in %s: unknown schedule class %q", s.Sync, b.env.Name, s.Class)
		}
	}
	return nil
}

// labels are the labels of every alert, plus the given pairs.
func (b *builder) labels(kv ...string) map[string]string {
	l := map[string]string{}
	for k, v := range b.e.Alerting.Labels {
		l[k] = v
	}
	l["severity"] = b.e.Alerting.Severity
	l[LabelEnv] = b.env.Name
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

// annotations adds the runbook and dashboard links to a summary and a
// description.
func (b *builder) annotations(name, summary, description string) map[string]string {
	a := map[string]string{"summary": summary, "description": description}
	if b.e.Alerting.RunbookURL != "" {
		a["runbook_url"] = b.e.Alerting.RunbookURL + "#" + name
	}
	if u := DashboardURL(b.e, b.env.Name); u != "" {
		a["dashboard_url"] = u
	}
	return a
}

// DashboardUID is the uid of env's generated dashboard: one per
// environment, so that a Grafana that loads several never mixes them up.
func DashboardUID(e *model.Estate, env string) string { return e.Alerting.DashboardUID + "-" + env }

// DashboardURL is env's dashboard in env's own Grafana when the estate
// declares it; else the configured dashboard link, pointed at env's own
// dashboard when it names the estate's dashboard uid ("/d/<uid>").
func DashboardURL(e *model.Estate, env string) string {
	if ev, ok := e.Environment(env); ok && ev.GrafanaURL != "" {
		return ev.GrafanaURL + "/d/" + DashboardUID(e, env)
	}
	u := e.Alerting.DashboardURL
	if u == "" || e.Alerting.DashboardUID == "" {
		return u
	}
	seg := "/d/" + e.Alerting.DashboardUID
	if i := strings.Index(u, seg); i >= 0 && (len(u) == i+len(seg) || strings.ContainsRune("/?#", rune(u[i+len(seg)]))) {
		u = u[:i] + "/d/" + DashboardUID(e, env) + u[i+len(seg):]
	}
	return u
}

// Template renders a label reference as a Prometheus alert template.
func Template(label string) string { return "{{ $labels." + label + " }}" }

func (b *builder) filter(keep func(Series) bool) []Series {
	var out []Series
	for _, s := range b.universe {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

func (b *builder) groups() ([]monitoringv1.RuleGroup, []alert, error) {
	var alerts []alert
	var groups []monitoringv1.RuleGroup
	add := func(name string, records []monitoringv1.Rule, as []alert) {
		rules := append([]monitoringv1.Rule{}, records...)
		for _, a := range as {
			rules = append(rules, a.rule)
		}
		if len(rules) > 0 {
			groups = append(groups, monitoringv1.RuleGroup{Name: name, Rules: rules})
		}
		alerts = append(alerts, as...)
	}

	add("envsync-failed", nil, []alert{b.failed()})
	add("envsync-personal-data", nil, []alert{b.personalData()})

	long, err := b.takingLong()
	if err != nil {
		return nil, nil, err
	}
	add("envsync-taking-long", nil, long)

	notCompleted, err := b.notCompleted()
	if err != nil {
		return nil, nil, err
	}
	add("envsync-not-completed", nil, notCompleted)

	add("envsync-never-reported", nil, b.neverReported())
	return groups, alerts, nil
}

func (b *builder) failed() alert {
	annotate := func(l func(string) string) map[string]string {
		return b.annotations(AlertFailed,
			fmt.Sprintf("Database %s failed: %s on %s", l(LabelOperation), l(LabelDatabase), l(LabelInstance)),
			fmt.Sprintf("The %s of database %s on %s failed in %s. Its logs: kubectl -n %s logs %s --all-containers",
				l(LabelOperation), l(LabelDatabase), l(LabelInstance), b.env.Name, b.env.Namespace, l(LabelPod)))
	}
	return alert{
		kind: kindFailed,
		rule: monitoringv1.Rule{
			Alert:       AlertFailed,
			Expr:        intstr.FromString(fmt.Sprintf("%s == %d", MetricState, StateFailed)),
			Labels:      b.labels(),
			Annotations: annotate(Template),
		},
		annotate: annotate,
	}
}

// personalData fires when a sanitising step's personal-data gate found
// personal-looking values: its restore failed too ("operation failed"),
// and this one says why without reading the logs.
func (b *builder) personalData() alert {
	annotate := func(l func(string) string) map[string]string {
		return b.annotations(AlertPersonalData,
			fmt.Sprintf("Personal data found after sanitising: %s on %s", l(LabelDatabase), l(LabelInstance)),
			fmt.Sprintf("The personal-data gate of the %s of database %s on %s in %s found personal-looking values (e-mail addresses, phone or National Insurance numbers) after the sanitise script: nothing went live. The log names each column and count: kubectl -n %s logs %s --all-containers",
				l(LabelOperation), l(LabelDatabase), l(LabelInstance), b.env.Name, b.env.Namespace, l(LabelPod)))
	}
	return alert{
		kind: kindPersonalData,
		rule: monitoringv1.Rule{
			Alert:       AlertPersonalData,
			Expr:        intstr.FromString(fmt.Sprintf("%s > 0", MetricGateFindings)),
			Labels:      b.labels(),
			Annotations: annotate(Template),
		},
		annotate: annotate,
	}
}

// takingLong is one rule per operation and tier for backups and restores
// (the tier's threshold), and one for transforms (the environment's limit).
func (b *builder) takingLong() ([]alert, error) {
	var out []alert
	for _, op := range []model.Operation{model.Backup, model.Restore, model.Publish} {
		// A publish's threshold is its tier's backup and restore together.
		name := map[model.Operation]string{model.Backup: AlertBackupTakingLong, model.Restore: AlertRestoreTakingLong, model.Publish: AlertPublishTakingLong}[op]
		for _, tier := range b.e.Tiers {
			want := b.filter(func(s Series) bool { return s.Operation == op && s.Tier == tier.Name })
			if len(want) == 0 {
				continue
			}
			threshold := tier.LongRunning[op]
			if threshold <= 0 {
				return nil, fmt.Errorf("rules: tier %s has no long-running threshold for %s, which sync %s uses in %s",
					tier.Name, op, want[0].Sync, b.env.Name)
			}
			expr := fmt.Sprintf("(\n%s\n) == %d", union(MetricState, selectors(want, b.universe), "", "  "), StateRunning)
			out = append(out, b.longAlert(name, expr, threshold, want, LabelTier, tier.Name))
		}
		if op == model.Publish {
			continue // a series no job declares is a backup's or a restore's
		}
		a, ok, err := b.undeclaredTakingLong(name, op)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, a)
		}
	}
	transforms := b.filter(func(s Series) bool { return s.Operation == model.Transform })
	if len(transforms) > 0 {
		if b.env.TransformLimit <= 0 {
			return nil, fmt.Errorf("rules: environment %s runs transforms (sync %s) but has no transform time limit",
				b.env.Name, transforms[0].Sync)
		}
		expr := fmt.Sprintf("%s{%s=%q} == %d", MetricState, LabelOperation, model.Transform, StateRunning)
		out = append(out, b.longAlert(AlertTransformLong, expr, b.env.TransformLimit, transforms))
	}
	return out, nil
}

func (b *builder) longAlert(name, expr string, threshold time.Duration, want []Series, kv ...string) alert {
	d := promModel.Duration(threshold).String()
	annotate := func(l func(string) string) map[string]string {
		return b.annotations(name,
			fmt.Sprintf("Database %s running for more than %s: %s on %s", l(LabelOperation), d, l(LabelDatabase), l(LabelInstance)),
			fmt.Sprintf("The %s of database %s on %s in %s (pod %s) has been running for more than %s.",
				l(LabelOperation), l(LabelDatabase), l(LabelInstance), b.env.Name, l(LabelPod), d))
	}
	dur := monitoringv1.Duration(d)
	return alert{
		kind: kindTakingLong, series: want, hold: threshold,
		rule: monitoringv1.Rule{
			Alert: name, Expr: intstr.FromString(expr), For: &dur,
			Labels: b.labels(kv...), Annotations: annotate(Template),
		},
		annotate: annotate,
	}
}

// aggregateBy drops the pod label, so that the newest of several pods'
// series counts.
var aggregateBy = strings.Join([]string{LabelEngine, LabelInstance, LabelDatabase, LabelOperation}, ", ")

// notCompleted is one rule per schedule class: the last success of every
// operation of the class's running jobs is older than the class window, on
// the days the class is armed.
func (b *builder) notCompleted() ([]alert, error) {
	var out []alert
	for _, class := range b.e.Classes {
		want := b.filter(func(s Series) bool { return s.Runs && s.Class == class.Name })
		if len(want) == 0 {
			continue
		}
		if class.Window <= 0 {
			return nil, fmt.Errorf("rules: schedule class %s has no not-completed window, and sync %s uses it in %s",
				class.Name, want[0].Sync, b.env.Name)
		}
		sel := selectors(want, b.universe)
		last := union(MetricTimestamp, sel, fmt.Sprintf("%s=%q", LabelState, "succeeded"), "      ")
		attempts := union(MetricTimestamp, sel, fmt.Sprintf("%s=%q", LabelState, "running"), "      ")
		out = append(out, b.notCompletedAlert(class, last, attempts, want))
	}
	a, ok, err := b.undeclaredNotCompleted()
	if ok {
		out = append(out, a)
	}
	return out, err
}

// armedDays is the PromQL condition on day_of_week() (UTC) for the days the
// class's alert is armed; empty when it is armed every day.
func armedDays(c model.Class) string {
	days := map[time.Weekday]bool{}
	for _, d := range c.ArmedDays {
		days[d] = true
	}
	if len(days) == 0 || len(days) == 7 {
		return ""
	}
	var sorted []int
	for d := range days {
		sorted = append(sorted, int(d))
	}
	sort.Ints(sorted)
	terms := make([]string, len(sorted))
	for i, d := range sorted {
		terms[i] = fmt.Sprintf("day_of_week() == %d", d)
	}
	return strings.Join(terms, " or ")
}

// armed reports whether the class's alert is evaluated on day d.
func armed(c model.Class, d time.Weekday) bool {
	if len(c.ArmedDays) == 0 {
		return true
	}
	for _, a := range c.ArmedDays {
		if a == d {
			return true
		}
	}
	return false
}

// neverReported is one rule per schedule class: for every operation the
// class's running jobs declare, absent() of its state series, joined with
// "or", so that each missing (instance, database, operation) is one alert
// once it has been missing for a whole class window. Suspended, disabled and
// absent jobs are not expected.
func (b *builder) neverReported() []alert {
	var out []alert
	for _, class := range b.e.Classes {
		want := b.filter(func(s Series) bool { return s.Runs && s.Class == class.Name })
		if len(want) == 0 {
			continue
		}
		terms := make([]string, len(want))
		for i, s := range want {
			terms[i] = fmt.Sprintf("absent(%s{%s=%q,%s=%q,%s=%q})",
				MetricState, LabelInstance, s.Instance, LabelDatabase, s.Database, LabelOperation, s.Operation)
		}
		window := promModel.Duration(class.Window).String()
		annotate := func(l func(string) string) map[string]string {
			return b.annotations(AlertNeverReported,
				fmt.Sprintf("Database %s has never reported: %s on %s", l(LabelOperation), l(LabelDatabase), l(LabelInstance)),
				fmt.Sprintf("The %s of database %s on %s is declared in %s (schedule class %s), but no %s has reported to Prometheus for %s.",
					l(LabelOperation), l(LabelDatabase), l(LabelInstance), b.env.Name, class.Name, l(LabelOperation), window))
		}
		dur := monitoringv1.Duration(window)
		out = append(out, alert{
			kind: kindNeverReported, series: want, hold: class.Window, class: class,
			rule: monitoringv1.Rule{
				Alert: AlertNeverReported, Expr: intstr.FromString(strings.Join(terms, "\nor ")), For: &dur,
				Labels: b.labels(LabelClass, class.Name), Annotations: annotate(Template),
			},
			annotate: annotate,
		})
	}
	return out
}

// absentLabels are the labels absent() gives a missing series: those of its
// equality matchers.
func absentLabels(s Series) map[string]string {
	return map[string]string{
		LabelInstance:  s.Instance,
		LabelDatabase:  s.Database,
		LabelOperation: string(s.Operation),
	}
}
