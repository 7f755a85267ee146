package engines_test

import (
	"slices"
	"testing"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/runner/engines"
)

// The runner's registry and the contract's table name the same engines,
// each under the same kind: vet, the declaration's defaults and run --help
// read the table, the runner the registry.
func TestTheRegistryAndTheContractNameTheSameEngines(t *testing.T) {
	var want []string
	for _, e := range contract.Engines {
		want = append(want, e.Name)
		_, streaming := engines.All.Streaming[e.Name]
		_, snapshot := engines.All.Snapshot[e.Name]
		if (e.Kind == contract.Streaming) != streaming || (e.Kind == contract.Snapshot) != snapshot {
			t.Errorf("%s: registered streaming %v, snapshot %v; the contract says kind %d", e.Name, streaming, snapshot, e.Kind)
		}
	}
	slices.Sort(want)
	if got := engines.All.Names(); !slices.Equal(got, want) {
		t.Errorf("registry %v, contract %v", got, want)
	}
}
