// Package rules is the alerting policy of an estate: it turns the model into
// a PrometheusRule per environment, the same groups as a promtool rule file,
// and promtool unit tests that prove every alert fires and stays silent when
// it should.
package rules

import (
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"github.com/envsync/envsync/model"
)

// Output is what Build returns for one environment.
type Output struct {
	PrometheusRule *monitoringv1.PrometheusRule
	// RuleFile marshals to a promtool rule file holding the same groups.
	RuleFile any
	// UnitTests marshals to a promtool test file whose rule_files is rules.yaml.
	UnitTests any
}

// Build returns the alert rules of one environment and their tests.
func Build(e *model.Estate, env string) (*Output, error) {
	if _, ok := e.Environment(env); !ok {
		return nil, fmt.Errorf("rules: unknown environment %q", env)
	}
	return nil, fmt.Errorf("rules: not implemented yet")
}
