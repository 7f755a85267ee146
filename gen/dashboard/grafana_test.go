package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	grafana "github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// strictGrafana decodes a dashboard's JSON strictly into Grafana's own
// types (grafana-foundation-sdk): a field they lack, or one they require
// and the JSON lacks, is an error. The notice is the one key of ours
// Grafana has no field for (it ignores it): it goes first.
func strictGrafana(b []byte) error {
	plugins.RegisterDefaultPlugins()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	delete(m, "__comment")
	b, _ = json.Marshal(m)
	var d grafana.Dashboard
	err := d.UnmarshalJSONStrict(b)
	// The SDK returns its error list typed even when it is empty.
	if be := (cog.BuildErrors)(nil); errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// Every generated dashboard, of every environment of both estates, is
// what Grafana's types describe, field for field.
func TestEveryDashboardDecodesStrictlyIntoGrafanasTypes(t *testing.T) {
	for name, e := range estates(t) {
		for _, env := range e.Environments {
			b, err := json.Marshal(build(t, e, env.Name))
			if err != nil {
				t.Fatal(err)
			}
			if err := strictGrafana(b); err != nil {
				t.Errorf("%s, %s: %v", name, env.Name, err)
			}
		}
	}
	// The check sees a misspelt field and a missing one.
	b, _ := json.Marshal(build(t, estates(t)["modeltest"], "staging"))
	for what, broken := range map[string][]byte{
		"a misspelt field":       bytes.Replace(b, []byte(`"gridPos"`), []byte(`"gridPosition"`), 1),
		"a missing panel option": bytes.Replace(b, []byte(`"frameIndex":0,`), nil, 1),
	} {
		if bytes.Equal(broken, b) {
			t.Fatalf("%s: the dashboard has nothing to break", what)
		}
		if err := strictGrafana(broken); err == nil {
			t.Errorf("a dashboard with %s decoded strictly", what)
		}
	}
}
