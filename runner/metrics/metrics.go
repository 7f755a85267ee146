// Package metrics reports operations to a Prometheus Pushgateway with the
// names and labels the dashboards and alerts read (docs/contracts.md), job
// "db-backup":
//
//	db_backup_job_state                        0 failed, 1 running, 2 succeeded
//	db_backup_job_status_timestamp_seconds     when the operation reached {state}
//	db_backup_job_duration_seconds             how long the run that ended in {state} took
//	db_backup_job_file_size_bytes              size of the dump written or read
//	db_backup_restored_dump_timestamp_seconds  when the dump a restore loaded was taken
//
// each with database_engine, database_instance, database_db_name, operation
// and instance (the pod).
//
// Pushes use "add" semantics (POST): a push replaces, within its grouping
// key, only the metric names it carries. The grouping key is (job,
// database_engine, database_instance, database_db_name, operation), so each
// sync's operations stay apart; the per-state series are pushed under that key
// plus state=<state>, so that a failed run replaces the failed timestamp and
// leaves the last success's timestamp in place. The instance label is not
// in the grouping key: the Pushgateway keeps the pushed value on each
// series (pod names change every run and would pile up as groups).
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/envsync/envsync/contract"
)

// Job is the Pushgateway job of every envsync metric.
const Job = contract.MetricsJob

// States, as db_backup_job_state values and as state label values.
const (
	Failed    = contract.StateFailed
	Running   = contract.StateRunning
	Succeeded = contract.StateSucceeded
)

var stateNames = map[int]string{Failed: "failed", Running: "running", Succeeded: "succeeded"}

// Labels identify one operation of one sync.
type Labels struct {
	Engine    string // database_engine
	Instance  string // database_instance
	Database  string // database_db_name
	Operation string // backup, restore, transform
	Pod       string // instance
}

// Result is what a finished operation reports besides its state.
type Result struct {
	Err      error
	Size     int64     // bytes of the dump written or read; 0: not reported
	DumpTime time.Time // restore: when the restored dump was taken
	// Gate is the personal-data gate's report, when a gate ran.
	Gate *GateReport
}

// GateReport is what a personal-data gate checked and found.
type GateReport struct{ Checked, Findings int }

// Pusher pushes to one Pushgateway. A nil Pusher or an empty URL pushes
// nothing; a Pushgateway that cannot be reached costs a warning.
type Pusher struct {
	URL     string
	Log     *slog.Logger
	Timeout time.Duration // per push; default 10s
	Client  *http.Client
}

// Started reports state 1 (running) and the start time.
func (p *Pusher) Started(ctx context.Context, l Labels, at time.Time) {
	p.push(ctx, l, "", gauge(l, contract.MetricState, "0 failed, 1 running, 2 succeeded.", Running))
	p.push(ctx, l, stateNames[Running], gauge(l, contract.MetricTimestamp, "When the operation reached this state.", unix(at)))
}

// Finished reports state 0 or 2, when and how long, and the result's size.
func (p *Pusher) Finished(ctx context.Context, l Labels, start, end time.Time, r Result) {
	state := Succeeded
	if r.Err != nil {
		state = Failed
	}
	cs := []prometheus.Collector{gauge(l, contract.MetricState, "0 failed, 1 running, 2 succeeded.", float64(state))}
	if state == Succeeded && r.Size > 0 {
		cs = append(cs, gauge(l, contract.MetricFileSize, "Size of the dump written or read, in bytes.", float64(r.Size)))
	}
	if g := r.Gate; g != nil {
		cs = append(cs,
			gauge(l, contract.MetricGateChecked, "Columns the personal-data gate checked.", float64(g.Checked)),
			gauge(l, contract.MetricGateFindings, "Personal-looking values the personal-data gate found.", float64(g.Findings)))
	}
	if state == Succeeded && !r.DumpTime.IsZero() {
		cs = append(cs, gauge(l, contract.MetricRestored, "When the dump that the last restore loaded was taken.", unix(r.DumpTime)))
	}
	p.push(ctx, l, "", cs...)
	p.push(ctx, l, stateNames[state],
		gauge(l, contract.MetricTimestamp, "When the operation reached this state.", unix(end)),
		gauge(l, contract.MetricDuration, "How long the run that reached this state took.", end.Sub(start).Seconds()),
	)
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func gauge(l Labels, name, help string, v float64) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{contract.LabelPod: l.Pod}})
	g.Set(v)
	return g
}

func (p *Pusher) push(ctx context.Context, l Labels, state string, cs ...prometheus.Collector) {
	if p == nil || p.URL == "" {
		return
	}
	timeout := p.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	pu := push.New(p.URL, Job).Client(client).
		Grouping(contract.LabelEngine, l.Engine).
		Grouping(contract.LabelInstance, l.Instance).
		Grouping(contract.LabelDatabase, l.Database).
		Grouping(contract.LabelOperation, l.Operation)
	if state != "" {
		pu = pu.Grouping(contract.LabelState, state)
	}
	for _, c := range cs {
		pu = pu.Collector(c)
	}
	if err := pu.AddContext(ctx); err != nil {
		log := p.Log
		if log == nil {
			log = slog.Default()
		}
		log.Warn("could not push metrics to the Pushgateway; the operation goes on", "pushgateway", redacted(p.URL), "operation", l.Operation, "error", err)
	}
}

// redacted hides a password given in the URL's user info.
func redacted(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return pu.Redacted()
}
