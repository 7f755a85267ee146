package testenv

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Pushgateway is a real Prometheus Pushgateway.
type Pushgateway struct {
	URL  string // http://127.0.0.1:PORT
	Proc *Process
}

const pushgatewayHint = "apt-get install prometheus-pushgateway"

// StartPushgateway starts prometheus-pushgateway on a loopback port with its
// persistence file in a temporary directory.
func StartPushgateway(t T) *Pushgateway {
	t.Helper()
	bin := LookPath(t, "prometheus-pushgateway", pushgatewayHint)
	port := FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--web.listen-address="+addr,
		"--persistence.file="+filepath.Join(t.TempDir(), "pushgateway.db"))
	p := Start(t, "pushgateway", cmd)
	WaitTCP(t, p, addr, 20*time.Second)
	return &Pushgateway{URL: "http://" + addr, Proc: p}
}

// Families scrapes /metrics as Prometheus would and parses it.
func (g *Pushgateway) Families(t T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(g.URL + "/metrics")
	mustf(t, err, "scraping %s", g.URL)
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	mustf(t, err, "parsing %s/metrics", g.URL)
	return fams
}

// Series is one scraped sample with its labels.
type Series struct {
	Labels map[string]string
	Value  float64
}

// Series returns the samples of metric name whose labels include match.
func (g *Pushgateway) Series(t T, name string, match map[string]string) []Series {
	t.Helper()
	fam := g.Families(t)[name]
	if fam == nil {
		return nil
	}
	var out []Series
	for _, m := range fam.GetMetric() {
		ls := map[string]string{}
		for _, lp := range m.GetLabel() {
			ls[lp.GetName()] = lp.GetValue()
		}
		ok := true
		for k, v := range match {
			if ls[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Untyped != nil:
			v = m.GetUntyped().GetValue()
		}
		out = append(out, Series{Labels: ls, Value: v})
	}
	return out
}
