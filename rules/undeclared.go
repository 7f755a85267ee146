package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	promModel "github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/envsync/envsync/model"
)

// LabelUndeclared marks the alerts of series no job declares, so that
// their routing and their reader can tell them apart.
const LabelUndeclared = "undeclared"

// The rules for undeclared series. The rules of declared jobs list their
// instances, so a series that no job of the environment declares (a job
// made by hand under another name, another chart's job during a
// migration) would only get "operation failed". The estate's
// alerting.undeclared names a tier and a class whose "taking a long time"
// and "not completed" rules select every instance the environment does not
// declare: every series is covered by one rule or the other, never both.

// undeclaredExample is the series the generated tests push for an
// undeclared job; no declared instance can be named like it (instances are
// label values, and this one is reserved by the test only).
func undeclaredExample(op model.Operation, tier, class string) Series {
	return Series{Sync: "undeclared", Engine: model.Postgres, Instance: "undeclared-example-postgres",
		Database: "undeclared_example", Operation: op, Tier: tier, Class: class}
}

// declaredInstances lists the instances of the environment's series, for
// op only when op is not empty.
func (b *builder) declaredInstances(op model.Operation) []string {
	var out []string
	for _, s := range b.universe {
		if (op == "" || s.Operation == op) && !slices.Contains(out, s.Instance) {
			out = append(out, s.Instance)
		}
	}
	slices.Sort(out)
	return out
}

// noneOf matches a label against none of values, one != matcher a line
// (indented by indent), so that declaring an instance adds a line to a
// review instead of changing a long regex; "" for no values.
func noneOf(label string, values []string, indent string) string {
	ms := make([]string, len(values))
	for i, v := range values {
		ms[i] = "\n" + indent + label + "!=" + strconv.Quote(v)
	}
	return strings.Join(ms, ",")
}

func matchers(parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), ",")
}

// undeclaredTakingLong is the "taking a long time" rule of op for the
// instances that do not declare op here, at the undeclared tier's
// threshold; false when the estate names no undeclared tier.
func (b *builder) undeclaredTakingLong(name string, op model.Operation) (alert, bool, error) {
	u := b.e.Alerting.Undeclared
	if u == nil {
		return alert{}, false, nil
	}
	tier, _ := b.e.Tier(u.Tier)
	threshold := tier.LongRunning[op]
	if threshold <= 0 {
		return alert{}, false, fmt.Errorf("rules: tier %s (alerting.undeclared) has no long-running threshold for %s", tier.Name, op)
	}
	sel := matchers(fmt.Sprintf("%s=%q", LabelOperation, op), noneOf(LabelInstance, b.declaredInstances(op), "    "))
	expr := fmt.Sprintf("(\n  %s{%s}\n) == %d", MetricState, sel, StateRunning)
	return b.longAlert(name, expr, threshold, []Series{undeclaredExample(op, tier.Name, "")}, LabelTier, tier.Name, LabelUndeclared, "true"), true, nil
}

// undeclaredNotCompleted is the "not completed" rule of the undeclared
// class for every instance the environment does not declare at all.
func (b *builder) undeclaredNotCompleted() (alert, bool, error) {
	u := b.e.Alerting.Undeclared
	if u == nil {
		return alert{}, false, nil
	}
	class, _ := b.e.Class(b.e.UndeclaredClass(b.env))
	if class.Window <= 0 {
		return alert{}, false, fmt.Errorf("rules: schedule class %q (undeclared series of %s) has no not-completed window", class.Name, b.env.Name)
	}
	others := noneOf(LabelInstance, b.declaredInstances(""), "        ")
	last := fmt.Sprintf("      %s{%s}", MetricTimestamp, matchers(fmt.Sprintf("%s=%q", LabelState, "succeeded"), others))
	attempts := fmt.Sprintf("      %s{%s}", MetricTimestamp, matchers(fmt.Sprintf("%s=%q", LabelState, "running"), others))
	return b.notCompletedAlert(class, last, attempts, []Series{undeclaredExample(model.Backup, "", class.Name)}, LabelUndeclared, "true"), true, nil
}

// notCompletedAlert is the "not completed" rule of class over the last
// successes that last selects. The newest success across pods counts, so
// that a newer run clears the alert even while an older pod's series stays
// (the old chart's rules kept firing on it); the alert names the pod of the
// newest attempt that attempts selects, "unknown" when none reported one.
func (b *builder) notCompletedAlert(class model.Class, last, attempts string, want []Series, kv ...string) alert {
	age := fmt.Sprintf("time() - max by (%s) (\n%s\n    ) > %d", aggregateBy, last, int64(class.Window/time.Second))
	expr := fmt.Sprintf("  (\n    %s\n  )\n  + on (%s) group_left (%s)\n    0 * topk by (%s) (1,\n%s\n    )\nor on (%s)\n  label_replace(\n    %s,\n    %q, \"unknown\", \"\", \"\"\n  )",
		age, aggregateBy, LabelPod, aggregateBy, attempts, aggregateBy, age, LabelPod)
	if armed := armedDays(class); armed != "" {
		expr = "(\n" + expr + "\n)\nand on () (" + armed + ")"
	}
	window := promModel.Duration(class.Window).String()
	annotate := func(l func(string) string) map[string]string {
		return b.annotations(AlertNotCompleted,
			fmt.Sprintf("Database %s has not succeeded for %s: %s on %s", l(LabelOperation), window, l(LabelDatabase), l(LabelInstance)),
			fmt.Sprintf("The last successful %s of database %s on %s in %s is more than %s old (schedule class %s). The last attempt ran in pod %s. A success from any pod clears this alert.",
				l(LabelOperation), l(LabelDatabase), l(LabelInstance), b.env.Name, window, class.Name, l(LabelPod)))
	}
	return alert{
		kind: kindNotCompleted, series: want, hold: class.Window, class: class,
		rule: monitoringv1.Rule{
			Alert: AlertNotCompleted, Expr: intstr.FromString(expr),
			Labels: b.labels(append([]string{LabelClass, class.Name}, kv...)...), Annotations: annotate(Template),
		},
		annotate: annotate,
	}
}
