package rules

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	promModel "github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/envsync/envsync/model"
)

// TestFile is promtool's unit test file (promtool test rules).
type TestFile struct {
	RuleFiles          []string    `json:"rule_files"`
	EvaluationInterval string      `json:"evaluation_interval"`
	Tests              []TestGroup `json:"tests"`
}

// TestGroup is one set of input series and the alerts expected from them.
type TestGroup struct {
	Interval       string          `json:"interval"`
	InputSeries    []InputSeries   `json:"input_series"`
	AlertRuleTests []AlertRuleTest `json:"alert_rule_test"`
}

// InputSeries is a series in promtool's expanding notation ("1+0x60").
type InputSeries struct {
	Series string `json:"series"`
	Values string `json:"values"`
}

// AlertRuleTest lists the firing alerts of one name at one time.
type AlertRuleTest struct {
	EvalTime  string     `json:"eval_time"`
	Alertname string     `json:"alertname"`
	ExpAlerts []ExpAlert `json:"exp_alerts"`
}

// ExpAlert is one firing alert: all its labels and annotations.
type ExpAlert struct {
	ExpLabels      map[string]string `json:"exp_labels"`
	ExpAnnotations map[string]string `json:"exp_annotations"`
}

// RuleFileName is the rule file the tests load, next to the test file.
const RuleFileName = "rules.yaml"

// minStep is the finest evaluation interval the tests use.
const minStep = time.Minute

// promtool's clock starts at Unix 0, a Thursday, 00:00 UTC.
const epochWeekday = time.Thursday

func weekdayAt(t time.Duration) time.Weekday {
	return time.Weekday((int(epochWeekday) + int(t/(24*time.Hour))) % 7)
}

// unitTests proves each alert: it fires after its threshold, is silent
// before it, selects only its own series, and a not-completed alert is
// silent on the days its class is not armed. The expectations are computed
// here from the model, independently of the PromQL.
func (b *builder) unitTests(alerts []alert) (*TestFile, error) {
	step := evaluationStep(alerts)
	t := &testGen{b: b, step: step}
	byKind := map[kind][]alert{}
	for _, a := range alerts {
		byKind[a.kind] = append(byKind[a.kind], a)
	}
	var groups []TestGroup
	for _, a := range byKind[kindFailed] {
		groups = append(groups, t.failed(a))
	}
	for _, a := range byKind[kindPersonalData] {
		groups = append(groups, t.personalData(a))
	}
	for _, name := range []string{AlertBackupTakingLong, AlertRestoreTakingLong, AlertPublishTakingLong, AlertTransformLong} {
		var same []alert
		for _, a := range byKind[kindTakingLong] {
			if a.rule.Alert == name {
				same = append(same, a)
			}
		}
		if len(same) > 0 {
			groups = append(groups, t.takingLong(same))
		}
	}
	// The two week-long tests share one group: promtool evaluates every
	// rule at every step up to a group's last eval time, so one long group
	// costs half of two.
	nc, nr := byKind[kindNotCompleted], byKind[kindNeverReported]
	if len(nc)+len(nr) > 0 {
		stale, ncCases, ncLast := t.notCompleted(nc)
		missing, nrCases, nrLast := t.neverReported(nr)
		until := max(ncLast, nrLast)
		g := TestGroup{Interval: dur(t.step), InputSeries: t.reported(until, missing)}
		for _, s := range stale {
			g.InputSeries = append(g.InputSeries, InputSeries{Series: s.desc, Values: t.constant(s.value, until)})
		}
		if len(nc) > 0 {
			g.AlertRuleTests = append(g.AlertRuleTests, sortedTests(ncCases, AlertNotCompleted)...)
		}
		if len(nr) > 0 {
			g.AlertRuleTests = append(g.AlertRuleTests, sortedTests(nrCases, AlertNeverReported)...)
		}
		groups = append(groups, g)
	}
	if len(nc) > 0 {
		groups = append(groups, t.twoPods(nc[0]))
	}
	p := parser.NewParser(parser.Options{})
	for _, g := range groups {
		for _, in := range g.InputSeries {
			if _, _, err := p.ParseSeriesDesc(in.Series + " " + in.Values); err != nil {
				return nil, fmt.Errorf("rules: environment %s: generated test series does not parse: %w\n%s %s", t.b.env.Name, err, in.Series, in.Values)
			}
		}
	}
	return &TestFile{
		RuleFiles:          []string{RuleFileName},
		EvaluationInterval: promModel.Duration(step).String(),
		Tests:              groups,
	}, nil
}

// evaluationStep is the coarsest evaluation interval (at most 15 minutes)
// that divides every threshold, so that "just before" and "just after" are
// one evaluation away and the tests stay fast.
func evaluationStep(alerts []alert) time.Duration {
	g := 15 * time.Minute
	for _, a := range alerts {
		if a.hold > 0 {
			g = gcd(g, a.hold)
		}
	}
	if g < minStep {
		return minStep
	}
	return g
}

func gcd(a, b time.Duration) time.Duration {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

type testGen struct {
	b    *builder
	step time.Duration
}

// pod is the pod label a test series carries.
func pod(s Series) string { return s.Sync + "-29000000-test0" }

// seriesLabels are the labels the runner pushes for s (without the name).
func seriesLabels(s Series) map[string]string {
	return map[string]string{
		LabelEngine:    string(s.Engine),
		LabelInstance:  s.Instance,
		LabelDatabase:  s.Database,
		LabelOperation: string(s.Operation),
		LabelPod:       pod(s),
		"job":          "db-backup",
	}
}

func seriesDesc(metric string, l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(l[k])
	}
	return metric + "{" + strings.Join(parts, ", ") + "}"
}

// Input samples are one evaluation step apart, at the evaluation times
// themselves, so every evaluation sees the sample taken at that instant
// (never relying on the 5 minute lookback) and long tests stay small.

// constant holds v from time 0 up to and including until.
func (t *testGen) constant(v float64, until time.Duration) string {
	return fmt.Sprintf("%s+0x%d", strconv.FormatFloat(v, 'f', -1, 64), int(until/t.step))
}

func dur(d time.Duration) string { return promModel.Duration(d).String() }

// expect is the firing alert a rule gives for a series with these labels.
func expect(a alert, seriesLabels map[string]string) ExpAlert {
	l := maps.Clone(seriesLabels)
	maps.Copy(l, a.rule.Labels)
	l["alertname"] = a.rule.Alert
	return ExpAlert{ExpLabels: l, ExpAnnotations: a.annotate(func(name string) string { return l[name] })}
}

// sortedTests orders test cases by time then name, for stable output.
func sortedTests(cases map[time.Duration][]ExpAlert, name string) []AlertRuleTest {
	times := slices.Sorted(maps.Keys(cases))
	out := make([]AlertRuleTest, 0, len(times))
	for _, at := range times {
		exp := cases[at]
		if exp == nil {
			exp = []ExpAlert{}
		}
		sort.Slice(exp, func(i, j int) bool {
			return seriesDesc("", exp[i].ExpLabels) < seriesDesc("", exp[j].ExpLabels)
		})
		out = append(out, AlertRuleTest{EvalTime: dur(at), Alertname: name, ExpAlerts: exp})
	}
	return out
}

// reported gives every running expected series a succeeded state, except
// those in skip, so that "never reported" stays quiet in the tests of other
// alerts (an active alert costs promtool a template expansion per step).
func (t *testGen) reported(until time.Duration, skip map[[3]string]bool) []InputSeries {
	var out []InputSeries
	for _, s := range t.b.universe {
		if !s.Runs || skip[[3]string{s.Instance, s.Database, string(s.Operation)}] {
			continue
		}
		out = append(out, InputSeries{Series: seriesDesc(MetricState, seriesLabels(s)), Values: t.constant(StateSucceeded, until)})
	}
	return out
}

// keys is the set of (instance, database, operation) of ss.
func keys(ss ...Series) map[[3]string]bool {
	m := map[[3]string]bool{}
	for _, s := range ss {
		m[[3]string{s.Instance, s.Database, string(s.Operation)}] = true
	}
	return m
}

// failed: a series that succeeded, then failed. Silent before, firing after.
func (t *testGen) failed(a alert) TestGroup {
	s := Series{Sync: "example", Engine: model.Postgres, Instance: "example-postgres", Database: "example_production", Operation: model.Backup}
	if len(t.b.universe) > 0 {
		s = t.b.universe[0]
	}
	l := seriesLabels(s)
	failAt := 2 * t.step
	values := fmt.Sprintf("%d+0x%d %d+0x2", StateSucceeded, int(failAt/t.step)-1, StateFailed)
	return TestGroup{
		Interval:    dur(t.step),
		InputSeries: append(t.reported(failAt+t.step, keys(s)), InputSeries{Series: seriesDesc(MetricState, l), Values: values}),
		AlertRuleTests: sortedTests(map[time.Duration][]ExpAlert{
			failAt - t.step: nil,
			failAt + t.step: {expect(a, l)},
		}, a.rule.Alert),
	}
}

// personalData: a restore's gate finds nothing, then 3 personal-looking
// values: silent, then firing with the series' labels.
func (t *testGen) personalData(a alert) TestGroup {
	s := Series{Sync: "example", Engine: model.Postgres, Instance: "example-postgres", Database: "example_production", Operation: model.Restore}
	l := seriesLabels(s)
	foundAt := 2 * t.step
	return TestGroup{
		Interval:    dur(t.step),
		InputSeries: []InputSeries{{Series: seriesDesc(MetricGateFindings, l), Values: fmt.Sprintf("0+0x%d 3+0x2", int(foundAt/t.step)-1)}},
		AlertRuleTests: sortedTests(map[time.Duration][]ExpAlert{
			foundAt - t.step: nil,
			foundAt + t.step: {expect(a, l)},
		}, a.rule.Alert),
	}
}

// takingLong: one running series per rule of the same alert name, all
// started at time 0. Just before and just after each rule's threshold,
// exactly the series whose own threshold has passed fire, each once with
// its own rule's labels: a series selected by the wrong tier shows up twice
// or with the wrong tier.
func (t *testGen) takingLong(as []alert) TestGroup {
	type running struct {
		a alert
		l map[string]string
	}
	var rs []running
	var last time.Duration
	var tested []Series
	for _, a := range as {
		rs = append(rs, running{a, seriesLabels(a.series[0])})
		tested = append(tested, a.series[0])
		last = max(last, a.hold+t.step)
	}
	g := TestGroup{Interval: dur(t.step), InputSeries: t.reported(last, keys(tested...))}
	for _, r := range rs {
		g.InputSeries = append(g.InputSeries, InputSeries{Series: seriesDesc(MetricState, r.l), Values: t.constant(StateRunning, last)})
	}
	cases := map[time.Duration][]ExpAlert{}
	for _, a := range as {
		for _, at := range []time.Duration{a.hold - t.step, a.hold + t.step} {
			cases[at] = nil
			for _, r := range rs {
				if r.a.hold <= at {
					cases[at] = append(cases[at], expect(r.a, r.l))
				}
			}
		}
	}
	g.AlertRuleTests = sortedTests(cases, as[0].rule.Alert)
	return g
}

// constantSeries is an input series holding one value throughout.
type constantSeries struct {
	desc  string
	value float64
}

// notCompleted: per class, one series whose last success is a window and
// one step old at noon of the class's first armed day. Just before that it
// is silent; then, on each of the next seven days at noon, it fires exactly
// on the days the class is armed. It returns the series, the cases and the
// last eval time.
func (t *testGen) notCompleted(as []alert) ([]constantSeries, map[time.Duration][]ExpAlert, time.Duration) {
	type stale struct {
		a        alert
		l        map[string]string
		lastGood time.Duration // the success timestamp, relative to promtool's epoch
	}
	var ss []stale
	var evals []time.Duration
	var series []constantSeries
	for _, a := range as {
		s := a.series[0]
		noon := firstArmedNoon(a.class)
		l := seriesLabels(s)
		l[LabelState] = "succeeded"
		ss = append(ss, stale{a, l, noon - a.hold - t.step})
		attempt := maps.Clone(l)
		attempt[LabelState] = "running"
		series = append(series, constantSeries{seriesDesc(MetricTimestamp, attempt), (noon - a.hold - 2*t.step).Seconds()})
		evals = append(evals, noon-2*t.step, noon)
		for day := 1; day <= 7; day++ {
			evals = append(evals, noon+time.Duration(day)*24*time.Hour)
		}
	}
	for _, s := range ss {
		series = append(series, constantSeries{seriesDesc(MetricTimestamp, s.l), s.lastGood.Seconds()})
	}
	cases := map[time.Duration][]ExpAlert{}
	for _, at := range evals {
		cases[at] = nil
		for _, s := range ss {
			if at-s.lastGood > s.a.hold && armed(s.a.class, weekdayAt(at)) {
				l := maps.Clone(s.l)
				delete(l, LabelState)
				delete(l, "job")
				cases[at] = append(cases[at], expect(s.a, l))
			}
		}
	}
	var last time.Duration
	if len(evals) > 0 {
		last = slices.Max(evals)
	}
	return series, cases, last
}

// firstArmedNoon is noon of the first day from promtool's epoch on which
// class's not-completed alert is armed.
func firstArmedNoon(class model.Class) time.Duration {
	var noon time.Duration
	for day := range 7 {
		noon = time.Duration(day)*24*time.Hour + 12*time.Hour
		if armed(class, weekdayAt(noon)) {
			break
		}
	}
	return noon
}

// twoPods pins what "not completed" does when two pods' series exist for
// one database and operation: an old pod's last success, stale, and a
// newer pod's attempt. While the newer attempt has not succeeded the alert
// fires once, naming the newer pod (the last attempt); once it succeeds the
// alert clears although the old pod's stale series is still there (the
// old chart's rules kept firing on it).
func (t *testGen) twoPods(a alert) TestGroup {
	noon := firstArmedNoon(a.class)
	s := a.series[0]
	old, young := seriesLabels(s), seriesLabels(s)
	old[LabelPod] = s.Sync + "-28000000-old00"
	at := func(l map[string]string, state string) string {
		l = maps.Clone(l)
		l[LabelState] = state
		return seriesDesc(MetricTimestamp, l)
	}
	// from holds v from time from on, nothing before it.
	from := func(from time.Duration, v time.Duration, until time.Duration) string {
		n := int(from / t.step)
		return fmt.Sprintf("_x%d %s", n, t.constant(v.Seconds(), until-time.Duration(n)*t.step))
	}
	stale := noon - a.hold - t.step
	attempt, success, until := noon-2*t.step, noon+2*t.step, noon+3*t.step
	g := TestGroup{Interval: dur(t.step), InputSeries: append(t.reported(until, keys(s)),
		InputSeries{Series: at(old, "running"), Values: t.constant((stale - t.step).Seconds(), until)},
		InputSeries{Series: at(old, "succeeded"), Values: t.constant(stale.Seconds(), until)},
		InputSeries{Series: at(young, "running"), Values: from(attempt, attempt, until)},
		InputSeries{Series: at(young, "failed"), Values: from(attempt+t.step, attempt+t.step, until)},
		InputSeries{Series: at(young, "succeeded"), Values: from(success, success, until)},
	)}
	firing := maps.Clone(young)
	delete(firing, "job")
	g.AlertRuleTests = sortedTests(map[time.Duration][]ExpAlert{
		noon:          {expect(a, firing)},
		noon + t.step: {expect(a, firing)},
		until:         nil,
	}, AlertNotCompleted)
	return g
}

// neverReported: every expected series reports from time 0, except the
// first of each class. Each missing one fires once its class window has
// passed, and nothing else fires: not the suspended, disabled or absent
// jobs, which are given no series either. It returns the missing series,
// the cases and the last eval time.
func (t *testGen) neverReported(as []alert) (map[[3]string]bool, map[time.Duration][]ExpAlert, time.Duration) {
	missing := map[[3]string]bool{}
	var last time.Duration
	for _, a := range as {
		s := a.series[0]
		missing[[3]string{s.Instance, s.Database, string(s.Operation)}] = true
		last = max(last, a.hold+t.step)
	}
	cases := map[time.Duration][]ExpAlert{}
	for _, a := range as {
		for _, at := range []time.Duration{a.hold - t.step, a.hold + t.step} {
			cases[at] = nil
			for _, m := range as {
				if m.hold <= at {
					cases[at] = append(cases[at], expect(m, absentLabels(m.series[0])))
				}
			}
		}
	}
	return missing, cases, last
}
