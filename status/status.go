// Package status reads what the dashboard shows from an environment's
// Prometheus, for a terminal: per sync, database and operation, the last
// state, when it last succeeded, how old the restored data is, and which
// alerts fire.
package status

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/envsync/envsync/rules"
)

// Row is one operation of one database of one instance.
type Row struct {
	Engine      string    `json:"engine"`
	Instance    string    `json:"instance"`
	Database    string    `json:"database"`
	Operation   string    `json:"operation"`
	State       int       `json:"state"`       // 0 failed, 1 running, 2 succeeded; -1 never reported
	LastSuccess time.Time `json:"lastSuccess"` // zero: never
	DumpTaken   time.Time `json:"dumpTaken"`   // restores: when the dump they loaded was taken
	Firing      []string  `json:"firing"`      // alert names
	Pending     []string  `json:"pending"`     // alerts whose condition holds, not yet for long enough
	// Declared says a job of the environment declares the operation (set
	// by Declared); Expected, that it is scheduled (not suspended).
	Declared bool `json:"declared"`
	Expected bool `json:"expected"`
}

type key struct{ engine, instance, database, operation string }

func keyOf(m model.Metric) key {
	return key{string(m[rules.LabelEngine]), string(m[rules.LabelInstance]), string(m[rules.LabelDatabase]), string(m[rules.LabelOperation])}
}

// Query asks api for every operation's status, sorted by instance,
// database and operation. Every operation in declared (the series the
// environment's jobs declare, rules.Expected) gets a row, with state -1
// when it never reported, so that "did everything succeed?" is not
// answered by the operations that happened to report.
func Query(ctx context.Context, api promv1.API, now time.Time, declared []rules.Series) ([]Row, error) {
	rows := map[key]*Row{}
	get := func(k key) *Row {
		if rows[k] == nil {
			rows[k] = &Row{Engine: k.engine, Instance: k.instance, Database: k.database, Operation: k.operation, State: -1}
		}
		return rows[k]
	}
	row := func(m model.Metric) *Row { return get(keyOf(m)) }
	for _, s := range declared {
		r := get(key{string(s.Engine), s.Instance, s.Database, string(s.Operation)})
		r.Declared, r.Expected = true, s.Runs
	}
	for _, q := range []struct {
		expr string
		set  func(*Row, model.SampleValue)
	}{
		{rules.MetricState, func(r *Row, v model.SampleValue) { r.State = int(v) }},
		{rules.MetricTimestamp + `{` + rules.LabelState + `="succeeded"}`, func(r *Row, v model.SampleValue) { r.LastSuccess = unix(v) }},
		{rules.MetricRestored, func(r *Row, v model.SampleValue) { r.DumpTaken = unix(v) }},
	} {
		vec, err := instant(ctx, api, q.expr, now)
		if err != nil {
			return nil, err
		}
		for _, s := range vec {
			q.set(row(s.Metric), s.Value)
		}
	}
	alerts, err := instant(ctx, api, `ALERTS{alertstate=~"firing|pending"}`, now)
	if err != nil {
		return nil, err
	}
	for _, a := range alerts {
		name := string(a.Metric["alertname"])
		firing := a.Metric["alertstate"] == "firing"
		for k, r := range rows {
			if matches(a.Metric, k) {
				if firing {
					r.Firing = append(r.Firing, name)
				} else {
					r.Pending = append(r.Pending, name)
				}
			}
		}
	}
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		slices.Sort(r.Firing)
		r.Firing = slices.Compact(r.Firing)
		slices.Sort(r.Pending)
		r.Pending = slices.Compact(r.Pending)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Instance, b.Instance), cmp.Compare(a.Database, b.Database), cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Engine, b.Engine))
	})
	return out, nil
}

// matches says whether an alert is about operation k: every one of the
// operation's labels that the alert carries agrees.
func matches(alert model.Metric, k key) bool {
	for label, want := range map[model.LabelName]string{rules.LabelEngine: k.engine, rules.LabelInstance: k.instance, rules.LabelDatabase: k.database, rules.LabelOperation: k.operation} {
		if got, ok := alert[label]; ok && string(got) != want {
			return false
		}
	}
	_, hasInstance := alert[rules.LabelInstance]
	return hasInstance
}

func instant(ctx context.Context, api promv1.API, expr string, now time.Time) (model.Vector, error) {
	v, _, _, err := api.Query(ctx, expr, now)
	if err != nil {
		return nil, fmt.Errorf("querying %s: %w", expr, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("querying %s: got %s, want a vector", expr, v.Type())
	}
	return vec, nil
}

func unix(v model.SampleValue) time.Time {
	sec := float64(v)
	return time.Unix(int64(sec), int64((sec-float64(int64(sec)))*1e9)).UTC()
}

// StateName is a state as the dashboard writes it.
func StateName(s int) string {
	switch s {
	case 0:
		return "failed"
	case 1:
		return "running"
	case 2:
		return "succeeded"
	}
	return "unknown"
}
