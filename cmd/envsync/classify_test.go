package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"

	"github.com/envsync/envsync/testenv"
)

// classify drafts, from a real database, a classification that CUE
// reads: personal by name or by what a sample of values holds, public
// otherwise, schemas outside public written schema.table.
func TestClassifyDraftsAClassificationFromADatabase(t *testing.T) {
	pg := testenv.StartPostgres(t)
	t.Setenv("PATH", pg.BinDir+":"+os.Getenv("PATH"))
	pg.Exec(t, "postgres", "CREATE DATABASE app")
	pg.Exec(t, "app", `CREATE SCHEMA audit;
		CREATE TABLE citizens (id serial PRIMARY KEY, full_name text, email text, postcode text, notes text, state text, "odd-col" int);
		INSERT INTO citizens (full_name, email, postcode, notes, state) VALUES
			('Jane Doe', 'jane@mail.co.uk', 'SW1A 1AA', 'call her on 07700 900123', 'open'),
			('John Roe', 'john@mail.co.uk', 'EC1A 1BB', 'no notes', 'closed');
		CREATE TABLE audit.events (id int, body text);
		INSERT INTO audit.events VALUES (1, 'sent to jane@mail.co.uk')`)
	for k, v := range map[string]string{"DB_ENGINE": "postgres", "DB_HOST": pg.Host, "DB_PORT": strconv.Itoa(pg.Port),
		"DB_USER": pg.User, "DB_PASSWORD": pg.Password, "DB_DATABASE": "app"} {
		t.Setenv(k, v)
	}
	out, _, err := envsync(t, "classify", "app-postgres")
	if err != nil {
		t.Fatalf("classify: %v\n%s", err, out)
	}
	v := cuecontext.New().CompileString(out)
	if v.Err() != nil {
		t.Fatalf("the draft is not CUE: %v\n%s", v.Err(), out)
	}
	class := func(table, column string) string {
		s, _ := v.LookupPath(cue.MakePath(cue.Str("syncs"), cue.Str("app-postgres"), cue.Str("classification"), cue.Str(table), cue.Str(column))).String()
		return s
	}
	for _, c := range []struct{ table, column, want string }{
		{"citizens", "id", "public"}, {"citizens", "full_name", "personal"}, {"citizens", "email", "personal"},
		{"citizens", "postcode", "personal"}, {"citizens", "notes", "personal"}, {"citizens", "state", "public"},
		{"citizens", "odd-col", "public"}, {"audit.events", "body", "personal"}, {"audit.events", "id", "public"},
	} {
		if got := class(c.table, c.column); got != c.want {
			t.Errorf("%s.%s is %q, want %q\n%s", c.table, c.column, got, c.want, out)
		}
	}
	if strings.Contains(out, "jane") {
		t.Errorf("the draft shows a value:\n%s", out)
	}
}
