package rules

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/model"
)

// Metric and label names of the runner's contract (package contract;
// docs/contracts.md, "Metrics"), and the labels the rules add.
const (
	MetricState     = contract.MetricState
	MetricTimestamp = contract.MetricTimestamp
	MetricDuration  = contract.MetricDuration
	MetricFileSize  = contract.MetricFileSize
	MetricRestored  = contract.MetricRestored

	MetricGateFindings = contract.MetricGateFindings

	LabelEngine    = contract.LabelEngine
	LabelInstance  = contract.LabelInstance
	LabelDatabase  = contract.LabelDatabase
	LabelOperation = contract.LabelOperation
	LabelPod       = contract.LabelPod
	LabelState     = contract.LabelState
	LabelClass     = "schedule_class"
	LabelTier      = "tier"
	LabelEnv       = "environment"
)

// Values of db_backup_job_state.
const (
	StateFailed    = contract.StateFailed
	StateRunning   = contract.StateRunning
	StateSucceeded = contract.StateSucceeded
)

// Series is one (instance, database, operation) that a job of an environment
// reports: the unit every alert selects.
type Series struct {
	Sync      string
	Engine    model.Engine
	Instance  string
	Database  string
	Operation model.Operation
	Class     string // the job's schedule class
	Tier      string // the sync's tier for this operation
	// Runs is true when the job is scheduled (present and not suspended);
	// a suspended or disabled job can still be run by hand, so its
	// operations are watched, but never expected.
	Runs bool
}

// Expected lists the series the jobs of env report, sorted by instance,
// database and operation order. Absent jobs report nothing. A transform is
// reported for every database with a sanitise script, whether the job has a
// transform operation or the restore sanitises.
func Expected(e *model.Estate, env string) []Series {
	seen := map[[3]string]int{}
	var out []Series
	add := func(s Series) {
		k := [3]string{s.Instance, s.Database, string(s.Operation)}
		if i, ok := seen[k]; ok {
			if s.Runs && !out[i].Runs {
				out[i] = s
			}
			return
		}
		seen[k] = len(out)
		out = append(out, s)
	}
	for _, d := range e.JobsIn(env) {
		s, j := d.Sync, d.Job
		for _, op := range model.Operations {
			for _, db := range s.Databases {
				reports := j.Has(op)
				if op == model.Transform {
					reports = j.Sanitise[db] != "" && (j.Has(model.Transform) || j.Has(model.Restore) || j.Has(model.Publish))
				}
				if !reports {
					continue
				}
				add(Series{
					Sync: s.Name, Engine: s.Engine, Instance: s.Instance, Database: db,
					Operation: op, Class: j.Class, Tier: s.Tier[op], Runs: j.Runs(),
				})
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		x, y := out[a], out[b]
		if x.Instance != y.Instance {
			return x.Instance < y.Instance
		}
		if x.Database != y.Database {
			return x.Database < y.Database
		}
		return opIndex(x.Operation) < opIndex(y.Operation)
	})
	return out
}

func opIndex(op model.Operation) int { return slices.Index(model.Operations, op) }

// selectors returns the label matchers (without braces) that select exactly
// the series in want among those in universe: one matcher set per operation
// and instance (with its databases when only some are wanted), so that a
// rule lists one instance a line and adding a sync adds lines to a review
// instead of changing a long regex. The result is sorted.
func selectors(want, universe []Series) []string {
	type instKey struct {
		op   model.Operation
		inst string
	}
	all := map[instKey]map[string]bool{}
	for _, s := range universe {
		k := instKey{s.Operation, s.Instance}
		if all[k] == nil {
			all[k] = map[string]bool{}
		}
		all[k][s.Database] = true
	}
	wanted := map[instKey][]string{}
	for _, s := range want {
		k := instKey{s.Operation, s.Instance}
		if !slices.Contains(wanted[k], s.Database) {
			wanted[k] = append(wanted[k], s.Database)
		}
	}
	var out []string
	for k, dbs := range wanted {
		if len(dbs) == len(all[k]) {
			out = append(out, fmt.Sprintf("%s=%q,%s=%q", LabelOperation, k.op, LabelInstance, k.inst))
			continue
		}
		sort.Strings(dbs)
		out = append(out, fmt.Sprintf("%s=%q,%s=%q,%s", LabelOperation, k.op, LabelInstance, k.inst, oneOf(LabelDatabase, dbs)))
	}
	sort.Slice(out, func(a, b int) bool {
		return opOrder(out[a]) < opOrder(out[b]) || opOrder(out[a]) == opOrder(out[b]) && out[a] < out[b]
	})
	return out
}

// opOrder sorts matcher sets by the operation they start with.
func opOrder(m string) int {
	for i, op := range model.Operations {
		if strings.HasPrefix(m, fmt.Sprintf("%s=%q", LabelOperation, op)) {
			return i
		}
	}
	return len(model.Operations)
}

// oneOf matches a label against a list of literal values: equality for one,
// an anchored regex of alternatives for more.
func oneOf(label string, values []string) string {
	if len(values) == 1 {
		return label + "=" + strconv.Quote(values[0])
	}
	return label + "=~" + alternatives(values)
}

// alternatives is a quoted regex matching exactly one of values.
func alternatives(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = regexp.QuoteMeta(v)
	}
	return strconv.Quote(strings.Join(quoted, "|"))
}

// union selects metric with each matcher set, one selector a line, joined
// by "or" (indented by indent).
func union(metric string, matchers []string, extra, indent string) string {
	parts := make([]string, len(matchers))
	for i, m := range matchers {
		if extra != "" {
			m = extra + "," + m
		}
		parts[i] = indent + metric + "{" + m + "}"
	}
	return strings.Join(parts, "\n"+indent+"or\n")
}
