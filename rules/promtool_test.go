package rules

import (
	"os/exec"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/model/modeltest"
	"github.com/envsync/envsync/testenv"
)

func promtool(t *testing.T) string {
	t.Helper()
	return testenv.LookPath(t, "promtool", "apt-get install prometheus")
}

// runPromtool runs promtool with args in dir and returns its output and
// whether it succeeded.
func runPromtool(t *testing.T, dir string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func TestGeneratedRulesPassPromtoolCheckAndTheirGeneratedTests(t *testing.T) {
	e := modeltest.Estate()
	for _, env := range e.Environments {
		t.Run(env.Name, func(t *testing.T) {
			out := build(t, e, env.Name)
			dir := writePromtool(t, out.RuleFile, out.UnitTests)
			if log, ok := runPromtool(t, dir, "check", "rules", RuleFileName); !ok {
				t.Fatalf("promtool check rules failed:\n%s", log)
			}
			if log, ok := runPromtool(t, dir, "test", "rules", "rules_test.yaml"); !ok {
				t.Fatalf("promtool test rules failed:\n%s", log)
			}
		})
	}
}

func TestEveryAlertOfEveryEnvironmentHasGeneratedTests(t *testing.T) {
	for name, e := range estates(t) {
		for _, env := range e.Environments {
			out := build(t, e, env.Name)
			tested := map[string]bool{}
			for _, g := range out.UnitTests.(*TestFile).Tests {
				fires, silent := false, false
				for _, c := range g.AlertRuleTests {
					tested[c.Alertname] = true
					fires = fires || len(c.ExpAlerts) > 0
					silent = silent || len(c.ExpAlerts) == 0
				}
				if !fires || !silent {
					t.Errorf("%s/%s: a test group of %s does not show both firing and silence", name, env.Name, g.AlertRuleTests[0].Alertname)
				}
			}
			for _, g := range out.PrometheusRule.Spec.Groups {
				for _, r := range g.Rules {
					if r.Alert != "" && !tested[r.Alert] {
						t.Errorf("%s/%s: alert %s has no generated test", name, env.Name, r.Alert)
					}
				}
			}
		}
	}
}

// A broken rule must make the generated tests fail: they pin thresholds,
// selections and armed days, not just syntax.
func TestABrokenRuleFailsTheGeneratedTests(t *testing.T) {
	out := build(t, modeltest.Estate(), "staging")
	for _, c := range []struct {
		name   string
		alert  string
		mutate func(r *monitoringv1.Rule) bool
	}{
		{"a quicker restore threshold of 2h instead of 1h", AlertRestoreTakingLong, func(r *monitoringv1.Rule) bool {
			if r.Labels[LabelTier] != "quicker" {
				return false
			}
			d := monitoringv1.Duration("2h")
			r.For = &d
			return true
		}},
		{"a quicker restore regex that forgets an instance", AlertRestoreTakingLong, func(r *monitoringv1.Rule) bool {
			return replaceExpr(r, "chat-postgres|", "")
		}},
		{"a weekday window of 26h instead of 25h", AlertNotCompleted, func(r *monitoringv1.Rule) bool {
			return replaceExpr(r, "> 90000", "> 93600")
		}},
		{"a not-completed alert armed every day", AlertNotCompleted, func(r *monitoringv1.Rule) bool {
			i := strings.Index(r.Expr.StrVal, "\nand on ()")
			if i < 0 {
				return false
			}
			r.Expr = intstr.FromString(r.Expr.StrVal[:i])
			return true
		}},
		{"a failed alert on running jobs", AlertFailed, func(r *monitoringv1.Rule) bool {
			return replaceExpr(r, "== 0", "== 1")
		}},
		{"a never-reported alert that forgets a series", AlertNeverReported, func(r *monitoringv1.Rule) bool {
			i := strings.Index(r.Expr.StrVal, "\nor ")
			if i < 0 {
				return false
			}
			r.Expr = intstr.FromString(r.Expr.StrVal[i+len("\nor "):])
			return true
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var broken RuleFile
			if err := yaml.Unmarshal(marshal(t, out.RuleFile), &broken); err != nil {
				t.Fatal(err)
			}
			changed := false
			for gi := range broken.Groups {
				for ri := range broken.Groups[gi].Rules {
					r := &broken.Groups[gi].Rules[ri]
					if r.Alert == c.alert && !changed {
						changed = c.mutate(r)
					}
				}
			}
			if !changed {
				t.Fatalf("no %s rule to break", c.alert)
			}
			dir := writePromtool(t, &broken, out.UnitTests)
			if log, ok := runPromtool(t, dir, "check", "rules", RuleFileName); !ok {
				t.Fatalf("the broken rule should still be valid PromQL:\n%s", log)
			}
			log, ok := runPromtool(t, dir, "test", "rules", "rules_test.yaml")
			if ok {
				t.Fatalf("promtool test rules passed with %s", c.name)
			}
			if !strings.Contains(log, "alertname: "+c.alert) {
				t.Fatalf("the failure does not name %s:\n%s", c.alert, log)
			}
		})
	}
}

func replaceExpr(r *monitoringv1.Rule, old, new string) bool {
	if !strings.Contains(r.Expr.StrVal, old) {
		return false
	}
	r.Expr = intstr.FromString(strings.Replace(r.Expr.StrVal, old, new, 1))
	return true
}
