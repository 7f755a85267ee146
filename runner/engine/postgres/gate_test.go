package postgres_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/gate"
)

// policy classifies the fixture: people's e-mail and name are personal,
// and contacts (added by the test) hold free text.
func policy() *gate.Policy {
	return &gate.Policy{Sync: "app-postgres", Declared: "syncs/app.cue", Tables: map[string]map[string]string{
		"people":       {"id": "public", "email": "personal", "name": "personal", "mood": "public", "born": "public", "note": "public"},
		"audit.events": {"id": "public", "person": "public", "at": "public", "payload": "public"},
		"contacts":     {"id": "public", "note": "personal"},
	}}
}

// The personal-data gate on a real restore: what it refuses fails the
// restore before the swap, naming the column and never a value, and live
// keeps the copy it had; a script that does its work passes.
func TestThePersonalDataGateRefusesWhatTheScriptLeftBehind(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	pg.Exec(t, "app", `CREATE TABLE contacts (id int PRIMARY KEY, note text);
		INSERT INTO contacts SELECT i, 'write to jane.doe' || i || '@mail.co.uk or call 07700 900' || (100 + i % 800) FROM generate_series(1, 500) i`)
	data := dump(t, pg, "app")
	good := "UPDATE people SET email = 'user' || id || '@example.invalid', name = NULL;\nUPDATE contacts SET note = 'Redacted ' || md5(note);\n"
	before := pg.Snapshot(t, "app")
	for _, c := range []struct {
		name, script string
		policy       func(*gate.Policy)
		want         []string
	}{
		{"a column added upstream and not classified", good,
			func(p *gate.Policy) { delete(p.Tables["people"], "note") },
			[]string{"not classified: people.note", `sync "app-postgres" (syncs/app.cue)`}},
		{"a personal column the script forgot", "UPDATE people SET email = 'user' || id || '@example.invalid';\nUPDATE contacts SET note = 'Redacted';\n", nil,
			[]string{"people.name is personal but the script left it unchanged"}},
		{"real addresses left in a changed column", "UPDATE people SET email = 'user' || id || '@example.invalid', name = NULL;\nUPDATE contacts SET note = note || ' (checked)';\n", nil,
			[]string{"contacts.note holds 500 e-mail addresses", "contacts.note holds 500 UK phone numbers"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := policy()
			if c.policy != nil {
				c.policy(p)
			}
			err := newEngine(t, pg, "app", "app_owner").Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{SanitiseScript: c.script, Gate: gate.New(p)})
			if err == nil {
				t.Fatal("the restore succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "jane.doe") || strings.Contains(err.Error(), "07700") {
				t.Errorf("the error shows a value: %v", err)
			}
			if ok, diff := before.Equal(pg.Snapshot(t, "app")); !ok {
				t.Fatalf("live changed: %s", diff)
			}
			if dbs := pg.Databases(t); !slices.Equal(dbs, []string{"app"}) {
				t.Errorf("databases left: %v", dbs)
			}
		})
	}
	g := gate.New(policy())
	if err := newEngine(t, pg, "app", "app_owner").Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{SanitiseScript: good, Gate: g}); err != nil {
		t.Fatalf("a script that does its work: %v", err)
	}
	if g.Checked < 3 || g.Findings != 0 {
		t.Errorf("the gate checked %d columns and found %d, want at least 3 and none", g.Checked, g.Findings)
	}
}
