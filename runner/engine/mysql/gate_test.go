package mysql_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/gate"
	"github.com/envsync/envsync/testenv"
)

// policy classifies sourceSchema: users' e-mail and note are personal.
func policy() *gate.Policy {
	return &gate.Policy{Sync: "shop-mysql", Declared: "syncs/shop.cue", Tables: map[string]map[string]string{
		"users":  {"id": "public", "email": "personal", "order": "public", "key": "public", "avatar": "public", "note": "personal"},
		"orders": {"id": "public", "user_id": "public", "total": "public", "placed": "public"},
		"audit":  {"id": "public", "what": "public"},
		"legacy": {"k": "public", "v": "public"},
	}}
}

// The personal-data gate on a real MySQL restore: drift, a forgotten
// personal column and real addresses left fail before the swap, naming the
// column and never a value; live and its schemas stay as they were.
func TestThePersonalDataGateRefusesWhatTheScriptLeftBehind(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "shop")
	m.Exec(t, "shop", "UPDATE users SET email = CONCAT('real.person', id, '@mail.co.uk')")
	d := dump(t, newEngine(t, m, "shop"))
	good := "UPDATE users SET email = CONCAT('user', id, '@example.invalid'), note = NULL;\n"
	before := snap(t, m, "shop")
	for _, c := range []struct {
		name, script string
		policy       func(*gate.Policy)
		want         string
	}{
		{"a column added upstream and not classified", good, func(p *gate.Policy) { delete(p.Tables["users"], "key") }, "not classified: users.key"},
		{"a personal column the script forgot", "UPDATE users SET email = CONCAT('user', id, '@example.invalid');\n", nil, "users.note is personal but the script left it unchanged"},
		{"real addresses left in a changed column", "UPDATE users SET email = UPPER(email), note = NULL;\n", nil, "users.email holds 3 e-mail addresses"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := policy()
			if c.policy != nil {
				c.policy(p)
			}
			err := newEngine(t, m, "shop").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{SanitiseScript: c.script, Gate: gate.New(p)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("restore: %v, want an error saying %q", err, c.want)
			}
			if strings.Contains(strings.ToLower(err.Error()), "real.person") {
				t.Errorf("the error shows a value: %v", err)
			}
			assertSame(t, "live after a refused gate", snap(t, m, "shop"), before)
			assertNoWorkingSchemas(t, m, "shop")
		})
	}
	if err := newEngine(t, m, "shop").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{SanitiseScript: good, Gate: gate.New(policy())}); err != nil {
		t.Fatalf("a script that does its work: %v", err)
	}
}
