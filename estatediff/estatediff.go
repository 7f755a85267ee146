// Package estatediff says what a change to the declarations does, for the
// reviewer of a pull request: per environment, the jobs added, removed or
// changed (schedule, operations, flow, scripts, classification), the
// hazards that appear or go, the data ages that move, and the instances
// each alert selects. It compares two loaded estates; it reads no file.
package estatediff

import (
	"fmt"
	"hash/fnv"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/envsync/envsync/check"
	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/rules"
	"github.com/envsync/envsync/timing"
)

// Summary is the change from before to after, in Markdown, ready to paste
// into a pull request; "" when nothing a reviewer would see changed.
func Summary(before, after *model.Estate) (string, error) {
	envs := environments(before, after)
	old, now := newEstate(before), newEstate(after)
	var b strings.Builder
	for _, env := range envs {
		var sections []string
		for _, part := range []struct {
			title string
			lines func(estate, string) (map[string]string, error)
		}{
			{"Jobs", jobs},
			{"Hazards", hazards},
			{"Data ages", ages},
			{"Alerts", alerts},
		} {
			was, err := part.lines(old, env)
			if err != nil {
				return "", err
			}
			is, err := part.lines(now, env)
			if err != nil {
				return "", err
			}
			if d := compare(was, is); d != "" {
				sections = append(sections, "**"+part.title+"**\n\n"+d)
			}
		}
		if len(sections) > 0 {
			fmt.Fprintf(&b, "### %s\n\n%s\n", env, strings.Join(sections, "\n"))
		}
	}
	return b.String(), nil
}

// estate is one side of the comparison, with what every environment's
// lines read of it computed once.
type estate struct {
	*model.Estate
	findings check.Findings
	flow     *timing.Flow
}

func newEstate(e *model.Estate) estate {
	return estate{e, check.Estate(e), timing.NewFlow(e)}
}

// environments are both estates' environments, in the order declared
// (after's first, then any only before had).
func environments(before, after *model.Estate) []string {
	var out []string
	for _, e := range []*model.Estate{after, before} {
		for _, env := range e.Environments {
			if !slices.Contains(out, env.Name) {
				out = append(out, env.Name)
			}
		}
	}
	return out
}

// compare lists, by key, what was added (+), removed (-) and changed (~,
// old → new).
func compare(was, is map[string]string) string {
	keys := slices.Sorted(maps.Keys(is))
	for k := range was {
		if _, ok := is[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		old, hadIt := was[k]
		now, hasIt := is[k]
		switch {
		case !hadIt:
			fmt.Fprintf(&b, "- added: %s%s\n", k, sep(now))
		case !hasIt:
			fmt.Fprintf(&b, "- removed: %s%s\n", k, sep(old))
		case old != now:
			fmt.Fprintf(&b, "- changed: %s: %s → %s\n", k, old, now)
		}
	}
	return b.String()
}

func sep(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// jobs describes each job of env in one line, keyed by its sync.
func jobs(e estate, env string) (map[string]string, error) {
	out := map[string]string{}
	for _, d := range e.JobsIn(env) {
		s, j := d.Sync, d.Job
		var parts []string
		ops := make([]string, len(j.Operations))
		for i, op := range j.Operations {
			ops[i] = string(op)
		}
		parts = append(parts, strings.Join(ops, ", "), fmt.Sprintf("%q (class %s)", j.Schedule, j.Class))
		if j.RestoreFrom != "" && j.Has(model.Restore) {
			parts = append(parts, "from "+j.RestoreFrom)
		}
		for _, db := range slices.Sorted(maps.Keys(j.Sanitise)) {
			p := j.Sanitise[db]
			parts = append(parts, fmt.Sprintf("script %s (%s)", p, digest(e.Scripts[p].Content)))
		}
		if s.Classification != nil {
			parts = append(parts, fmt.Sprintf("classification of %d columns, %d personal", columns(s.Classification, ""), columns(s.Classification, "personal")))
		}
		if !j.Runs() {
			parts = append(parts, "suspended")
		}
		if j.AcknowledgedHazard != "" {
			parts = append(parts, "hazard acknowledged")
		}
		out[s.Name] = strings.Join(parts, "; ")
	}
	return out, nil
}

// digest is a short fingerprint of a script, so that a changed script
// shows as a changed job.
func digest(content string) string {
	h := fnv.New32a()
	h.Write([]byte(content))
	return fmt.Sprintf("%d lines, %08x", strings.Count(content, "\n"), h.Sum32())
}

func columns(c map[string]map[string]string, kind string) int {
	n := 0
	for _, cols := range c {
		for _, k := range cols {
			if kind == "" || k == kind {
				n++
			}
		}
	}
	return n
}

// hazards are the ordering hazards of env's jobs, by sync.
func hazards(e estate, env string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range e.findings.Hazards() {
		if f.Environment != env {
			continue
		}
		state := "unacknowledged"
		if f.Acknowledged != "" {
			state = "acknowledged"
		}
		out[f.Sync] = state + ": " + f.Msg
	}
	return out, nil
}

// ages are how old the data of env's restores is when it lands.
func ages(e estate, env string) (map[string]string, error) {
	out := map[string]string{}
	for _, d := range e.JobsIn(env) {
		if a, ok := e.flow.Age(d.Sync, d.Job); ok {
			out[d.Sync.Name] = fmt.Sprintf("from %s, %s at best, %s at worst", a.From, timing.Short(a.Best), timing.Short(a.Worst))
		}
	}
	return out, nil
}

var instanceMatcher = regexp.MustCompile(rules.LabelInstance + `(!?=)"([^"]*)"`)

// alerts are, one line each, the instances each alert rule of env selects
// (or, for the rules of undeclared series, leaves out), the alert named by
// its tier or class.
func alerts(e estate, env string) (map[string]string, error) {
	if _, ok := e.Environment(env); !ok {
		return map[string]string{}, nil
	}
	o, err := rules.Build(e.Estate, env)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, g := range o.PrometheusRule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			key := r.Alert
			for _, l := range []string{rules.LabelTier, rules.LabelClass, rules.LabelUndeclared} {
				if v, ok := r.Labels[l]; ok {
					key += fmt.Sprintf(" %s=%s", l, v)
				}
			}
			for _, m := range instanceMatcher.FindAllStringSubmatch(r.Expr.String(), -1) {
				verb := "selects"
				if m[1] == "!=" {
					verb = "leaves out"
				}
				out[fmt.Sprintf("%s %s %s", key, verb, m[2])] = ""
			}
		}
	}
	return out, nil
}
