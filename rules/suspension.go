package rules

import (
	"fmt"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	promModel "github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AlertSuspensionExpired fires once a dated suspension's day has passed:
// the job is still suspended, and its other alerts are still silent.
const AlertSuspensionExpired = "DatabaseJobSuspensionExpired"

// SuspensionTestFileName holds the expiry alerts' tests. They are
// evaluated at their dates, decades after promtool's clock starts, so they
// get a file of their own with a week-long evaluation interval (the other
// tests need minutes), over a rule file of their own (SuspensionRuleFileName,
// the same group as in rules.yaml): evaluating every rule each week since
// 1970 would take half a minute.
const (
	SuspensionTestFileName = "suspensions_test.yaml"
	SuspensionRuleFileName = "suspensions.yaml"
)

// suspensionStep is that file's evaluation interval.
const suspensionStep = 7 * 24 * time.Hour

// expiry is one dated suspension's alert and when it expires.
type expiry struct {
	rule    monitoringv1.Rule
	expires time.Time
}

// suspensions are the expiry alerts of the environment's dated suspended
// jobs, in the order of JobsIn.
func (b *builder) suspensions() []expiry {
	var out []expiry
	for _, d := range b.e.JobsIn(b.env.Name) {
		sp := d.Job.Suspension
		if !d.Job.Suspend || sp.Until.IsZero() {
			continue
		}
		job := b.env.CronJobName(d.Sync.Name)
		until := sp.Until.Format(time.DateOnly)
		out = append(out, expiry{expires: sp.Expires(), rule: monitoringv1.Rule{
			Alert: AlertSuspensionExpired,
			// No series: the clock alone decides.
			Expr:   intstr.FromString(fmt.Sprintf("vector(time()) >= %d", sp.Expires().Unix())),
			Labels: b.labels("sync", d.Sync.Name, "cronjob", job, "suspended_until", until),
			Annotations: b.annotations(AlertSuspensionExpired,
				fmt.Sprintf("The suspension of %s in %s ended on %s", job, b.env.Name, until),
				fmt.Sprintf("%s in %s was suspended until %s: %s. It is still suspended, and its other alerts silent: resume it, or suspend it again with a new date and reason.",
					job, b.env.Name, until, sp.Reason)),
		}})
	}
	return out
}

// suspensionTests proves each expiry alert silent in the week before its
// date and firing in the week after; nil when there is none.
func (b *builder) suspensionTests(es []expiry) *TestFile {
	if len(es) == 0 {
		return nil
	}
	g := TestGroup{Interval: dur(suspensionStep)}
	cases := map[time.Duration][]ExpAlert{}
	for _, e := range es {
		at := time.Duration(e.expires.Unix()) * time.Second
		before := at / suspensionStep * suspensionStep
		if before == at {
			before -= suspensionStep
		}
		if _, ok := cases[before]; !ok {
			cases[before] = nil
		}
		cases[before+suspensionStep] = append(cases[before+suspensionStep], ExpAlert{ExpLabels: e.rule.Labels, ExpAnnotations: e.rule.Annotations})
	}
	// A later suspension is silent where an earlier one fires: each case
	// lists every expiry alert that has fired by then.
	for at := range cases {
		var all []ExpAlert
		for _, e := range es {
			if time.Duration(e.expires.Unix())*time.Second <= at {
				all = append(all, ExpAlert{ExpLabels: e.rule.Labels, ExpAnnotations: e.rule.Annotations})
			}
		}
		cases[at] = all
	}
	g.AlertRuleTests = sortedTests(cases, AlertSuspensionExpired)
	return &TestFile{RuleFiles: []string{SuspensionRuleFileName}, EvaluationInterval: promModel.Duration(suspensionStep).String(), Tests: []TestGroup{g}}
}
