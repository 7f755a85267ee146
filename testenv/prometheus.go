package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"
)

// Prometheus is a real Prometheus server (Debian's `prometheus`) on a
// loopback port, scraping one Pushgateway and evaluating rule files.
type Prometheus struct {
	URL     string // http://127.0.0.1:PORT
	API     promv1.API
	Process *Process
	// Interval is both the scrape and the rule evaluation interval.
	Interval time.Duration
}

// PrometheusOptions configure StartPrometheus.
type PrometheusOptions struct {
	// Pushgateway is the host:port scraped, with honor_labels: true as a
	// Pushgateway needs (the pushed job and instance labels are kept).
	Pushgateway string
	// RuleFiles are loaded as they are; a file Prometheus refuses fails the
	// start with its log.
	RuleFiles []string
	// Interval is the scrape and evaluation interval; default one second, so
	// that a test sees pushed metrics and alerts within a few seconds.
	Interval time.Duration
}

// promConfig is the part of Prometheus's configuration file the tests need.
type promConfig struct {
	Global        promGlobal   `json:"global"`
	RuleFiles     []string     `json:"rule_files,omitempty"`
	ScrapeConfigs []promScrape `json:"scrape_configs"`
}

type promGlobal struct {
	ScrapeInterval     string `json:"scrape_interval"`
	EvaluationInterval string `json:"evaluation_interval"`
}

type promScrape struct {
	JobName       string        `json:"job_name"`
	HonorLabels   bool          `json:"honor_labels"`
	StaticConfigs []promTargets `json:"static_configs"`
}

type promTargets struct {
	Targets []string `json:"targets"`
}

// StartPrometheus starts Prometheus with a generated configuration and waits
// until it is ready and has loaded every rule file.
func StartPrometheus(t T, opts PrometheusOptions) *Prometheus {
	t.Helper()
	bin := LookPath(t, "prometheus", "apt-get install prometheus")
	if opts.Interval == 0 {
		opts.Interval = time.Second
	}
	dir := t.TempDir()
	rules := make([]string, len(opts.RuleFiles))
	for i, f := range opts.RuleFiles {
		abs, err := filepath.Abs(f)
		mustf(t, err, "rule file %s", f)
		rules[i] = abs
	}
	cfg := promConfig{
		Global:    promGlobal{ScrapeInterval: opts.Interval.String(), EvaluationInterval: opts.Interval.String()},
		RuleFiles: rules,
		ScrapeConfigs: []promScrape{{
			JobName:       "pushgateway",
			HonorLabels:   true,
			StaticConfigs: []promTargets{{Targets: []string{opts.Pushgateway}}},
		}},
	}
	b, err := yaml.Marshal(cfg)
	mustf(t, err, "prometheus config")
	cfgPath := filepath.Join(dir, "prometheus.yml")
	mustf(t, os.WriteFile(cfgPath, b, 0o644), "writing %s", cfgPath)

	port := FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		// Stale series and lookback as in production; only the intervals
		// are short.
		"--log.level=warn",
	)
	p := Start(t, "prometheus", cmd)
	WaitTCP(t, p, addr, 30*time.Second)

	client, err := api.NewClient(api.Config{Address: "http://" + addr})
	mustf(t, err, "prometheus client")
	prom := &Prometheus{URL: "http://" + addr, API: promv1.NewAPI(client), Process: p, Interval: opts.Interval}

	// Ready means the rule files are loaded: wait until every file shows up
	// in /api/v1/rules.
	prom.Eventually(t, 30*time.Second, "loading its rule files", func(ctx context.Context) error {
		rr, err := prom.API.Rules(ctx, nil)
		if err != nil {
			return err
		}
		loaded := map[string]bool{}
		for _, g := range rr.Groups {
			loaded[g.File] = true
		}
		for _, f := range rules {
			if !loaded[f] {
				return fmt.Errorf("rule file %s not loaded (a file with no groups never shows)", f)
			}
		}
		return nil
	})
	return prom
}

// Eventually calls check until it returns nil, every half interval, and
// fails the test with check's last error after timeout.
func (p *Prometheus) Eventually(t T, timeout time.Duration, what string, check func(ctx context.Context) error) {
	t.Helper()
	if err := p.Poll(timeout, check); err != nil {
		t.Fatalf("testenv: prometheus %s: still failing after %s: %v", what, timeout, err)
	}
}

// Poll calls check until it returns nil or timeout passes, and returns its
// last error.
func (p *Prometheus) Poll(timeout time.Duration, check func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := check(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(p.Interval / 2)
	}
}

// Query runs an instant query now and returns its result as a vector
// (a scalar becomes a one-sample vector).
func (p *Prometheus) Query(ctx context.Context, expr string) (model.Vector, error) {
	v, warnings, _, err := p.API.Query(ctx, expr, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	if len(warnings) > 0 {
		return nil, fmt.Errorf("query %q: warnings %v", expr, warnings)
	}
	switch v := v.(type) {
	case model.Vector:
		return v, nil
	case *model.Scalar:
		return model.Vector{{Value: v.Value, Timestamp: v.Timestamp}}, nil
	case model.Matrix:
		var out model.Vector
		for _, s := range v {
			if len(s.Values) > 0 {
				last := s.Values[len(s.Values)-1]
				out = append(out, &model.Sample{Metric: s.Metric, Value: last.Value, Timestamp: last.Timestamp})
			}
		}
		return out, nil
	default:
		return nil, fmt.Errorf("query %q: unexpected result type %s", expr, v.Type())
	}
}

// Alerts returns the active (pending or firing) alerts.
func (p *Prometheus) Alerts(ctx context.Context) ([]promv1.Alert, error) {
	r, err := p.API.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	return r.Alerts, nil
}

// Firing returns the firing alerts.
func (p *Prometheus) Firing(ctx context.Context) ([]promv1.Alert, error) {
	all, err := p.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	var out []promv1.Alert
	for _, a := range all {
		if a.State == promv1.AlertStateFiring {
			out = append(out, a)
		}
	}
	return out, nil
}

// EvaluatedSince reports an error unless every alerting and recording rule
// has been evaluated after since: then alerts reflect what was scraped by
// then (give since as a time after the scrape you care about).
func (p *Prometheus) EvaluatedSince(ctx context.Context, since time.Time) error {
	rr, err := p.API.Rules(ctx, nil)
	if err != nil {
		return err
	}
	for _, g := range rr.Groups {
		for _, r := range g.Rules {
			var name string
			var last time.Time
			switch r := r.(type) {
			case promv1.AlertingRule:
				name, last = r.Name, r.LastEvaluation
			case promv1.RecordingRule:
				name, last = r.Name, r.LastEvaluation
			default:
				continue
			}
			if !last.After(since) {
				return fmt.Errorf("rule %s of group %s last evaluated at %s, before %s", name, g.Name, last.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano))
			}
		}
	}
	return nil
}

// ScrapedSince reports an error unless the Pushgateway target has been
// scraped successfully after since.
func (p *Prometheus) ScrapedSince(ctx context.Context, since time.Time) error {
	tr, err := p.API.Targets(ctx)
	if err != nil {
		return err
	}
	if len(tr.Active) == 0 {
		return fmt.Errorf("no active scrape target")
	}
	for _, tg := range tr.Active {
		if tg.Health != promv1.HealthGood {
			return fmt.Errorf("target %s is %s: %s", tg.ScrapeURL, tg.Health, tg.LastError)
		}
		if !tg.LastScrape.After(since) {
			return fmt.Errorf("target %s last scraped at %s, before %s", tg.ScrapeURL, tg.LastScrape.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano))
		}
	}
	return nil
}

// Settled waits until Prometheus has scraped after since and then evaluated
// every rule after that scrape, so that queries and alerts reflect
// everything pushed before since.
func (p *Prometheus) Settled(t T, since time.Time) {
	t.Helper()
	var scraped time.Time
	p.Eventually(t, 30*time.Second, "scraping the Pushgateway", func(ctx context.Context) error {
		if err := p.ScrapedSince(ctx, since); err != nil {
			return err
		}
		scraped = time.Now()
		return nil
	})
	p.Eventually(t, 30*time.Second, "evaluating its rules", func(ctx context.Context) error {
		return p.EvaluatedSince(ctx, scraped)
	})
}
