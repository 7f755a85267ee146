package pgscript_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/envsync/envsync/runner/engine/postgres/pgscript"
	"github.com/envsync/envsync/testenv"
)

// source holds what a restore must carry over whatever session loads it:
// rows spanning many chunks, values with tabs, newlines, backslashes, rows
// that start with `\.`, a row longer than a chunk and than the reading buffer, quoted
// names, an empty table, a generated and an identity column, a sequence, a
// large object, a function whose body looks like data, a trigger, indexes
// and a foreign key built after the rows. The database is LATIN1, so a
// session that missed the script's client_encoding would refuse its é.
const source = `
CREATE SCHEMA "odd schema";
CREATE TABLE "odd schema"."my table" (id int PRIMARY KEY, v text);
CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL, note text,
	shout text GENERATED ALWAYS AS (upper(name)) STORED);
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, person int REFERENCES people, at timestamptz);
CREATE TABLE empty (id int);
CREATE TABLE marks (v text);
INSERT INTO marks VALUES ('\.'), ('\.x'), (E'\\.\n'), ('');
CREATE FUNCTION odd() RETURNS text LANGUAGE sql AS $body$
SELECT 'COPY public.people (id) FROM stdin;
\.
'
$body$;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.at := coalesce(NEW.at, '2020-01-01'); RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION touch();
CREATE INDEX ON people (name);
INSERT INTO people (name, note)
	SELECT 'café ' || i, CASE i % 5 WHEN 0 THEN E'tab\there' WHEN 1 THEN E'new\nline' WHEN 2 THEN E'back\\slash'
		WHEN 3 THEN '\.' ELSE repeat(md5(i::text), 3) END
	FROM generate_series(1, 60000) i;
INSERT INTO people (name, note) VALUES ('long', repeat('x', 3 << 20));
INSERT INTO events (person) SELECT 1 + i % 60000 FROM generate_series(1, 20000) i;
INSERT INTO "odd schema"."my table" SELECT i, 'v' || i FROM generate_series(1, 1000) i;
SELECT lo_from_bytea(4242, 'a large object');
`

// restoreScript is what `pg_restore --file=-` makes of a dump of db.
func restoreScript(t testing.TB, pg *testenv.Postgres, db string) []byte {
	t.Helper()
	dump := exec.Command(pg.Tool("pg_dump"), "--format=custom", "--compress=0")
	dump.Env = pg.Env(db)
	archive, err := dump.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	restore := exec.Command(pg.Tool("pg_restore"), "--no-owner", "--no-acl", "--file=-")
	restore.Stdin = bytes.NewReader(archive)
	script, err := restore.Output()
	if err != nil {
		t.Fatalf("pg_restore: %v", err)
	}
	return script
}

func sessionsOf(t testing.TB, pg *testenv.Postgres, db string, n int) []*pgconn.PgConn {
	t.Helper()
	var out []*pgconn.PgConn
	for range n {
		out = append(out, pg.Connect(t, db).PgConn())
	}
	return out
}

func createDB(t *testing.T, pg *testenv.Postgres, db string) {
	t.Helper()
	pg.Exec(t, "postgres", "CREATE DATABASE "+db+" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
}

// schema is the database's definition as pg_dump writes it.
func schema(t *testing.T, pg *testenv.Postgres, db string) string {
	t.Helper()
	cmd := exec.Command(pg.Tool("pg_dump"), "--schema-only", "--no-owner")
	cmd.Env = pg.Env(db)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump --schema-only %s: %v", db, err)
	}
	// The dump's \restrict key is new each time.
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, `\restrict `) && !strings.HasPrefix(l, `\unrestrict `) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func queryString(t *testing.T, pg *testenv.Postgres, db, sql string) string {
	t.Helper()
	var s string
	if err := pg.Connect(t, db).QueryRow(context.Background(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// transactions is how many transactions wrote people's rows: one per
// session whose COPY loaded some.
func transactions(t *testing.T, pg *testenv.Postgres, db string) int {
	t.Helper()
	var n int
	if err := pg.Connect(t, db).QueryRow(context.Background(), "SELECT count(DISTINCT xmin::text) FROM people").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTheScriptOnSeveralSessionsRestoresWhatPsqlDoes(t *testing.T) {
	pg := testenv.StartPostgres(t)
	createDB(t, pg, "src")
	pg.Exec(t, "src", source)
	script := restoreScript(t, pg, "src")
	if !bytes.Contains(script, []byte("\n\\restrict ")) {
		t.Fatal("pg_restore wrote no \\restrict line: this test no longer shows that it is handled")
	}

	createDB(t, pg, "by_psql")
	psql := exec.Command(pg.Tool("psql"), "-q", "-v", "ON_ERROR_STOP=1")
	psql.Env = pg.Env("by_psql")
	psql.Stdin = bytes.NewReader(script)
	if out, err := psql.CombinedOutput(); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	want := pg.Snapshot(t, "by_psql")
	wantSchema := schema(t, pg, "by_psql")
	const extras = `SELECT last_value || ' ' || (SELECT last_value FROM events_id_seq) || ' ' ||
		(SELECT encode(lo_get(4242), 'escape')) || ' ' || odd() FROM people_id_seq`
	wantExtras := queryString(t, pg, "by_psql", extras)

	for _, n := range []int{1, 3} {
		db := "by_" + string(rune('0'+n)) + "_sessions"
		createDB(t, pg, db)
		if err := pgscript.Run(context.Background(), bytes.NewReader(script), sessionsOf(t, pg, db, n)); err != nil {
			t.Fatalf("%d sessions: %v", n, err)
		}
		if ok, diff := want.Equal(pg.Snapshot(t, db)); !ok {
			t.Errorf("%d sessions: the rows differ from psql's restore: %s", n, diff)
		}
		if got := schema(t, pg, db); got != wantSchema {
			t.Errorf("%d sessions: the schema differs from psql's restore:\n%s\nvs\n%s", n, got, wantSchema)
		}
		if got := queryString(t, pg, db, extras); got != wantExtras {
			t.Errorf("%d sessions: sequences, large object or function %q, want %q", n, got, wantExtras)
		}
		// people's 7 MB of rows went to every session in chunks.
		if got := transactions(t, pg, db); got != n {
			t.Errorf("%d sessions: people's rows were written by %d transactions, want %d", n, got, n)
		}
	}
}

func TestAScriptCutInsideRowsLoadsNoneOfThem(t *testing.T) {
	pg := testenv.StartPostgres(t)
	createDB(t, pg, "src")
	pg.Exec(t, "src", source)
	script := restoreScript(t, pg, "src")
	start := bytes.Index(script, []byte("COPY public.people "))
	if start < 0 {
		t.Fatal("no COPY of people in the script")
	}
	// Several chunks in, every session has rows of it in flight.
	cut := script[:start+5*pgscript.ChunkBytes+123]

	createDB(t, pg, "dst")
	err := pgscript.Run(context.Background(), bytes.NewReader(cut), sessionsOf(t, pg, "dst", 3))
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "Name: people; Type: TABLE DATA; Schema: public") {
		t.Fatalf("a script cut inside people's rows: %v", err)
	}
	var rows int
	pg.Connect(t, "dst").QueryRow(context.Background(), "SELECT count(*) FROM people").Scan(&rows)
	if rows != 0 {
		t.Fatalf("%d of people's rows were committed from a cut script", rows)
	}
}

func TestAFailingStatementIsNamedByItsEntryAndLine(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.Exec(t, "postgres", "CREATE DATABASE dst")
	script := "SET client_encoding = 'UTF8';\n\n" +
		"--\n-- Name: a; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.a (id int);\n\n" +
		"--\n-- Name: b; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.b (id int,\n    oops no_such_type);\n"
	err := pgscript.Run(context.Background(), strings.NewReader(script), sessionsOf(t, pg, "dst", 2))
	if err == nil || !strings.Contains(err.Error(), "Name: b; Type: TABLE; Schema: public, line 14 of pg_restore's script") ||
		!strings.Contains(err.Error(), "no_such_type") {
		t.Fatalf("error: %v", err)
	}
}

// An archive of a pg_dump older than 2018 names tables unqualified and sets
// the search path per entry: every session must find the table.
func TestEverySessionFollowsTheScriptsSearchPath(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.Exec(t, "postgres", "CREATE DATABASE dst")
	var rows strings.Builder
	for i := range 200000 {
		rows.WriteString(strings.Repeat("r", 20) + "\t" + string(rune('a'+i%26)) + "\n")
	}
	script := "SET client_encoding = 'UTF8';\n\n" +
		"--\n-- Name: app; Type: SCHEMA; Schema: -; Owner: -\n--\n\nCREATE SCHEMA app;\n\n" +
		"SET search_path = app, pg_catalog;\n\n" +
		"--\n-- Name: t; Type: TABLE; Schema: app; Owner: -\n--\n\nCREATE TABLE t (a text, b text);\n\n" +
		"--\n-- Data for Name: t; Type: TABLE DATA; Schema: app; Owner: -\n--\n\n" +
		"COPY t (a, b) FROM stdin;\n" + rows.String() + "\\.\n\n"
	if err := pgscript.Run(context.Background(), strings.NewReader(script), sessionsOf(t, pg, "dst", 3)); err != nil {
		t.Fatal(err)
	}
	var n, writers int
	err := pg.Connect(t, "dst").QueryRow(context.Background(), "SELECT count(*), count(DISTINCT xmin::text) FROM app.t").Scan(&n, &writers)
	if err != nil || n != 200000 || writers < 2 {
		t.Fatalf("app.t holds %d rows from %d sessions (%v), want 200000 from several", n, writers, err)
	}
}
