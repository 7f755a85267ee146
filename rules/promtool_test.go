package rules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/model"
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
			if st, ok := out.SuspensionTests.(*TestFile); ok {
				for _, g := range st.Tests {
					for _, c := range g.AlertRuleTests {
						tested[c.Alertname] = true
					}
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
		{"a restore rule that forgets an instance", AlertRestoreTakingLong, func(r *monitoringv1.Rule) bool {
			// Each instance is a selector of its own line, joined by "or".
			lines := strings.Split(r.Expr.StrVal, "\n")
			for i, l := range lines {
				if strings.Contains(l, `database_instance="chat-postgres"`) && i+1 < len(lines) && strings.TrimSpace(lines[i+1]) == "or" {
					r.Expr = intstr.FromString(strings.Join(append(lines[:i:i], lines[i+2:]...), "\n"))
					return true
				}
			}
			return false
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
		{"a personal-data alert that waits for five findings", AlertPersonalData, func(r *monitoringv1.Rule) bool {
			return replaceExpr(r, "> 0", "> 5")
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

// A dated suspension that has passed fires its alert in the generated
// tests, naming the job, the date and the reason, and stays silent the
// week before; with the date moved in the rule, the tests fail.
func TestAnExpiredSuspensionsAlertFiresInTheGeneratedTests(t *testing.T) {
	e := modeltest.Estate()
	n := 0
	for i := range e.Syncs {
		for k := range e.Syncs[i].Jobs {
			if j := &e.Syncs[i].Jobs[k]; j.Suspend && j.Environment == "integration" {
				j.Suspension = model.Suspension{Until: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Reason: "signon's schema migration"}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("the test estate has no suspended job in integration: the test proves nothing")
	}
	out := build(t, e, "integration")
	st, ok := out.SuspensionTests.(*TestFile)
	if !ok {
		t.Fatal("no suspension tests generated")
	}
	dir := t.TempDir()
	for name, v := range map[string]any{SuspensionRuleFileName: out.SuspensionRules, SuspensionTestFileName: st} {
		if err := os.WriteFile(filepath.Join(dir, name), marshal(t, v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if log, ok := runPromtool(t, dir, "test", "rules", SuspensionTestFileName); !ok {
		t.Fatalf("promtool test rules %s failed:\n%s", SuspensionTestFileName, log)
	}
	fired := false
	for _, c := range st.Tests[0].AlertRuleTests {
		for _, a := range c.ExpAlerts {
			fired = true
			if a.ExpLabels["suspended_until"] != "2026-03-01" || !strings.Contains(a.ExpAnnotations["description"], "signon's schema migration") {
				t.Errorf("the alert does not name the date and the reason: %v", a)
			}
		}
	}
	if !fired {
		t.Error("no test expects the alert to fire")
	}
	// The rule moved a year later: the tests catch it.
	broken := *out.SuspensionRules.(*RuleFile)
	broken.Groups = append([]monitoringv1.RuleGroup(nil), broken.Groups...)
	last := &broken.Groups[len(broken.Groups)-1]
	last.Rules = append([]monitoringv1.Rule(nil), last.Rules...)
	last.Rules[0].Expr = intstr.FromString(strings.Replace(last.Rules[0].Expr.StrVal, ">= 17", ">= 18", 1))
	if err := os.WriteFile(filepath.Join(dir, SuspensionRuleFileName), marshal(t, &broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := runPromtool(t, dir, "test", "rules", SuspensionTestFileName); ok {
		t.Error("the suspension tests pass with the expiry moved a year")
	}
}
