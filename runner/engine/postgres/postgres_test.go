package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/postgres"
	"github.com/envsync/envsync/testenv"
)

// fixture is a database with the kinds of objects an app has: two schemas,
// serial and identity keys, an enum, a view, a function, a trigger, and
// enough rows (a few MiB) that a dump streams in many reads.
const fixture = `
DO $$ BEGIN CREATE ROLE app_owner; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SCHEMA audit;
CREATE TYPE mood AS ENUM ('ok', 'meh');
CREATE TABLE people (id serial PRIMARY KEY, email text NOT NULL, name text, mood mood, born date, note text);
CREATE TABLE audit.events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, person int REFERENCES people, at timestamptz, payload jsonb);
CREATE INDEX ON people (email);
CREATE VIEW adults AS SELECT id, email FROM people WHERE born < '2000-01-01';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.at := coalesce(NEW.at, '2020-01-01'); RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE INSERT ON audit.events FOR EACH ROW EXECUTE FUNCTION touch();
INSERT INTO people (email, name, mood, born, note)
	SELECT 'person' || i || '@example.com', 'Person ' || i, (ARRAY['ok','meh'])[1 + i % 2]::mood,
		date '1950-01-01' + i % 20000, repeat(md5(i::text), 2)
	FROM generate_series(1, 30000) i;
INSERT INTO audit.events (person, payload) SELECT 1 + i % 30000, jsonb_build_object('i', i) FROM generate_series(1, 5000) i;
`

const sanitise = `UPDATE people SET email = 'user' || id || '@example.invalid', name = NULL;
TRUNCATE audit.events;`

func newServer(t *testing.T) *testenv.Postgres {
	t.Helper()
	pg := testenv.StartPostgres(t)
	// The engine finds the client tools on PATH, as in the runner image.
	t.Setenv("PATH", pg.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return pg
}

func newEngine(t *testing.T, pg *testenv.Postgres, db, owner string) engine.Engine {
	t.Helper()
	e, err := postgres.New(engine.Config{Host: pg.Host, Port: pg.Port, User: pg.User, Password: pg.Password, Database: db, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func seed(t *testing.T, pg *testenv.Postgres, db string) {
	t.Helper()
	pg.Exec(t, "postgres", "CREATE DATABASE "+db)
	pg.Exec(t, db, fixture)
}

func dump(t *testing.T, pg *testenv.Postgres, db string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := newEngine(t, pg, db, "").Dump(context.Background(), &buf); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return buf.Bytes()
}

func TestBackupThenRestoreIntoAnotherServerGivesIdenticalData(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	seed(t, src, "app")
	data := dump(t, src, "app")
	if !bytes.HasPrefix(data, []byte("PGDMP")) {
		t.Fatalf("dump does not start with PGDMP: %q", data[:min(16, len(data))])
	}
	dst.Exec(t, "postgres", "CREATE ROLE app_owner")
	e := newEngine(t, dst, "app", "app_owner")
	if err := e.Check(context.Background(), bytes.NewReader(data)); err != nil {
		t.Fatalf("check refused a good dump: %v", err)
	}
	if err := e.Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	want, got := src.Snapshot(t, "app"), dst.Snapshot(t, "app")
	if ok, diff := want.Equal(got); !ok {
		t.Fatalf("restored data differs: %s", diff)
	}
	if got.Tables["public.people"].Rows != 30000 {
		t.Fatalf("people has %d rows, want 30000", got.Tables["public.people"].Rows)
	}
	if dbs := dst.Databases(t); !slices.Equal(dbs, []string{"app"}) {
		t.Fatalf("databases after restore: %v, want only app (no shadow, no old copy)", dbs)
	}
	// Everything the restore created belongs to the owner role.
	c := dst.Connect(t, "app")
	var dbOwner string
	if err := c.QueryRow(context.Background(), "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'").Scan(&dbOwner); err != nil {
		t.Fatal(err)
	}
	if dbOwner != "app_owner" {
		t.Fatalf("database owner %q, want app_owner", dbOwner)
	}
	var notOwned []string
	rows, err := c.Query(context.Background(), `
		SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'audit') AND pg_get_userbyid(c.relowner) <> 'app_owner'
		UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname IN ('public', 'audit') AND pg_get_userbyid(p.proowner) <> 'app_owner'
		UNION ALL SELECT t.oid::regtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname IN ('public', 'audit') AND pg_get_userbyid(t.typowner) <> 'app_owner'
		UNION ALL SELECT nspname FROM pg_namespace WHERE nspname = 'audit' AND pg_get_userbyid(nspowner) <> 'app_owner'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		notOwned = append(notOwned, s)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if len(notOwned) > 0 {
		t.Fatalf("objects not owned by app_owner after restore: %v", notOwned)
	}
}

func TestRestoreWithFailingSanitiseScriptLeavesLiveExactlyAsItWas(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	data := dump(t, pg, "app")
	pg.Exec(t, "app", "UPDATE people SET name = 'before the restore' WHERE id = 1")
	before := pg.Snapshot(t, "app")
	e := newEngine(t, pg, "app", "app_owner")
	err := e.Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{
		SanitiseScript: "UPDATE people SET name = NULL;\nUPDATE people SET\n  nosuchcolumn = 1;\nTRUNCATE audit.events;",
	})
	if err == nil {
		t.Fatal("restore with a failing sanitise script succeeded")
	}
	if !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "nosuchcolumn") {
		t.Fatalf("error does not say which line failed and why: %v", err)
	}
	if ok, diff := before.Equal(pg.Snapshot(t, "app")); !ok {
		t.Fatalf("live changed after a failed restore: %s", diff)
	}
	if dbs := pg.Databases(t); !slices.Equal(dbs, []string{"app"}) {
		t.Fatalf("databases after the failed restore: %v, want only app", dbs)
	}
	if !pg.AllowsConnections(t, "app") {
		t.Fatal("live refuses connections after a failed restore")
	}
}

func TestRestoreWithSanitiseNeverShowsUnsanitisedRowsToAReader(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	data := dump(t, pg, "app")
	// Live starts sanitised, as it is in an environment that requires it.
	pg.Exec(t, "app", sanitise)
	ctx, cancel := context.WithCancel(context.Background())
	var reads, unsanitised atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			c, err := pgConnect(ctx, pg, "app")
			if err != nil {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			for ctx.Err() == nil {
				var n int64
				err := c.QueryRow(ctx, `SELECT (SELECT count(*) FROM people WHERE email NOT LIKE '%@example.invalid' OR name IS NOT NULL)
					+ (SELECT count(*) FROM audit.events)`).Scan(&n)
				if err != nil {
					break // disconnected by the swap: reconnect
				}
				reads.Add(1)
				unsanitised.Add(n)
			}
			c.Close(context.Background())
		}
	}()
	e := newEngine(t, pg, "app", "app_owner")
	err := e.Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{SanitiseScript: sanitise})
	// Keep reading the new live for a moment.
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if reads.Load() < 10 {
		t.Fatalf("the reader only read %d times", reads.Load())
	}
	if n := unsanitised.Load(); n != 0 {
		t.Fatalf("a reader saw %d unsanitised rows in live", n)
	}
	var people int64
	pg.Connect(t, "app").QueryRow(context.Background(), "SELECT count(*) FROM people WHERE email LIKE '%@example.invalid'").Scan(&people)
	if people != 30000 {
		t.Fatalf("live has %d sanitised people, want 30000", people)
	}
}

func TestClientsConnectedToLiveDuringTheSwapAreDisconnectedAndTheSwapSucceeds(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	data := dump(t, pg, "app")
	pg.Exec(t, "app", "INSERT INTO people (email) VALUES ('only-in-old@example.com')")
	idle := pg.Connect(t, "app")
	inTx := pg.Connect(t, "app")
	if _, err := inTx.Exec(context.Background(), "BEGIN; LOCK TABLE people IN ACCESS SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	// A client that reconnects in a loop, as an app's pool does.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if c, err := pgConnect(ctx, pg, "app"); err == nil {
				c.Exec(ctx, "SELECT pg_sleep(0.05)")
				c.Close(context.Background())
			}
		}
	}()
	if err := newEngine(t, pg, "app", "app_owner").Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{}); err != nil {
		t.Fatalf("restore with connected clients: %v", err)
	}
	cancel()
	for name, c := range map[string]*pgx.Conn{"idle": idle, "in a transaction": inTx} {
		if _, err := c.Exec(context.Background(), "SELECT 1"); err == nil {
			t.Errorf("the %s client is still connected to the old copy", name)
		}
	}
	var n int64
	pg.Connect(t, "app").QueryRow(context.Background(), "SELECT count(*) FROM people WHERE email = 'only-in-old@example.com'").Scan(&n)
	if n != 0 {
		t.Fatal("live is still the old copy")
	}
}

func TestBadDumpsAreRefusedBeforeAnyDatabaseIsTouched(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	good := dump(t, pg, "app")
	before := pg.Snapshot(t, "app")
	corrupt := slices.Clone(good)
	copy(corrupt[5:], bytes.Repeat([]byte{0xff}, 64)) // the header after the magic
	cases := []struct {
		name string
		data []byte
	}{
		{"a truncated dump", good[:len(good)*2/3]},
		{"a dump cut inside its header", good[:40]},
		{"a dump with a corrupted header", corrupt},
		{"a mysqldump text", []byte("-- MySQL dump 10.13  Distrib 8.0\n--\nCREATE TABLE `t` (`id` int);\nINSERT INTO `t` VALUES (1);\n")},
		{"a gzip file", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}},
		{"an empty stream", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, pg, "app", "app_owner")
			if err := e.Check(context.Background(), bytes.NewReader(c.data)); err == nil {
				t.Fatal("check accepted it")
			}
			if dbs := pg.Databases(t); !slices.Equal(dbs, []string{"app"}) {
				t.Fatalf("databases after check: %v", dbs)
			}
		})
	}
	// Restore itself refuses a stream that is not a custom-format archive
	// before creating the shadow.
	watch := pg.WatchDatabases(t)
	err := newEngine(t, pg, "app", "app_owner").Restore(context.Background(), strings.NewReader("-- MySQL dump 10.13\n"), engine.RestoreOptions{})
	if err == nil {
		t.Fatal("restore accepted a mysqldump")
	}
	if seen := watch(); len(seen) > 1 {
		t.Fatalf("databases seen during the refused restore: %v", seen)
	}
	if ok, diff := before.Equal(pg.Snapshot(t, "app")); !ok {
		t.Fatalf("live changed: %s", diff)
	}
}

func TestARestoreCleansUpWhatAKilledRunLeftBehind(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	data := dump(t, pg, "app")
	// A killed run: a half-filled shadow, an old copy, live refusing
	// connections.
	pg.Exec(t, "postgres", "CREATE DATABASE app_envsync_shadow")
	pg.Exec(t, "postgres", "CREATE DATABASE app_envsync_old")
	pg.Exec(t, "app_envsync_shadow", "CREATE TABLE half (x int)")
	pg.Exec(t, "postgres", "ALTER DATABASE app ALLOW_CONNECTIONS false")
	if err := newEngine(t, pg, "app", "app_owner").Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{}); err != nil {
		t.Fatalf("restore after a killed run: %v", err)
	}
	if dbs := pg.Databases(t); !slices.Equal(dbs, []string{"app"}) {
		t.Fatalf("databases: %v, want only app", dbs)
	}
	if !pg.AllowsConnections(t, "app") {
		t.Fatal("live refuses connections")
	}
}

func TestRestoreIntoAMissingLiveDatabaseCreatesIt(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	seed(t, src, "app")
	data := dump(t, src, "app")
	dst.Exec(t, "postgres", "CREATE ROLE app_owner")
	if err := newEngine(t, dst, "app", "app_owner").Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, diff := src.Snapshot(t, "app").Equal(dst.Snapshot(t, "app")); !ok {
		t.Fatal(diff)
	}
}

func TestALongDatabaseNameGetsDistinctShadowNamesWithinTheIdentifierLimit(t *testing.T) {
	pg := newServer(t)
	long := strings.Repeat("a", 60) // 63 is the limit; the suffixes do not fit
	seed(t, pg, long)
	data := dump(t, pg, long)
	pg.Exec(t, long, "INSERT INTO people (email) VALUES ('only-in-old@example.com')")
	if err := newEngine(t, pg, long, "app_owner").Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if dbs := pg.Databases(t); !slices.Equal(dbs, []string{long}) {
		t.Fatalf("databases: %v", dbs)
	}
	var n int64
	pg.Connect(t, long).QueryRow(context.Background(), "SELECT count(*) FROM people").Scan(&n)
	if n != 30000 {
		t.Fatalf("%d people, want 30000", n)
	}
}

func TestABeforeSwapErrorLeavesLiveUntouched(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	data := dump(t, pg, "app")
	pg.Exec(t, "app", "UPDATE people SET name = 'changed since the dump' WHERE id < 10")
	before := pg.Snapshot(t, "app")
	err := newEngine(t, pg, "app", "app_owner").Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{
		BeforeSwap: func() error { return errors.New("checksum mismatch") },
	})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("restore error %v, want the BeforeSwap error", err)
	}
	if ok, diff := before.Equal(pg.Snapshot(t, "app")); !ok {
		t.Fatal(diff)
	}
	if dbs := pg.Databases(t); !slices.Equal(dbs, []string{"app"}) {
		t.Fatalf("databases: %v", dbs)
	}
}

func TestTransformRunsInOneTransactionThatStopsAtTheFirstError(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	e := newEngine(t, pg, "app", "")
	before := pg.Snapshot(t, "app")
	err := e.Transform(context.Background(), "UPDATE people SET name = 'changed';\nSELECT 1/0;\nDELETE FROM people;")
	if err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("transform error %v, want division by zero", err)
	}
	if ok, diff := before.Equal(pg.Snapshot(t, "app")); !ok {
		t.Fatalf("a failed transform changed live: %s", diff)
	}
	if err := e.Transform(context.Background(), sanitise); err != nil {
		t.Fatal(err)
	}
	var named int64
	pg.Connect(t, "app").QueryRow(context.Background(), "SELECT count(name) FROM people").Scan(&named)
	if named != 0 {
		t.Fatalf("%d people still named after the transform", named)
	}
}

func TestThePasswordNeverAppearsInChildProcessArgumentsNorErrors(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	stop := testenv.WatchArguments(pg.Password, "pg_dump", "pg_restore", "psql")
	data := dump(t, pg, "app")
	e := newEngine(t, pg, "app", "app_owner")
	if err := e.Check(context.Background(), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{SanitiseScript: sanitise}); err != nil {
		t.Fatal(err)
	}
	args := stop()
	leaks := args.Leaks
	if len(args.Tools) == 0 {
		t.Fatal("no child process was seen: the watch proves nothing")
	}
	if len(leaks) > 0 {
		t.Fatalf("the password is in the arguments of: %v", leaks)
	}
	// A wrong password fails, and the error does not echo it.
	bad, _ := postgres.New(engine.Config{Host: pg.Host, Port: pg.Port, User: pg.User, Password: "wrong-" + pg.Password, Database: "app"})
	err := bad.Dump(context.Background(), &bytes.Buffer{})
	if err == nil {
		t.Fatal("dump with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), pg.Password) {
		t.Fatalf("the error holds the password: %v", err)
	}
	err = bad.Transform(context.Background(), "SELECT 1")
	if err == nil || strings.Contains(err.Error(), pg.Password) {
		t.Fatalf("transform with a wrong password: %v", err)
	}
}

// pgConnect opens a session outside the test's cleanup list, for clients
// that come and go.
func pgConnect(ctx context.Context, pg *testenv.Postgres, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, pg.DSN(db))
}

func TestARestoreCancelledPartWayLeavesLiveIntactAndNoShadow(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	data := dump(t, pg, "app")
	pg.Exec(t, "app", "UPDATE people SET name = 'the old copy' WHERE id = 1")
	before := pg.Snapshot(t, "app")
	// The dump arrives in two halves; the operation is cancelled (as on
	// SIGTERM) once pg_restore is writing into the shadow.
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- newEngine(t, pg, "app", "app_owner").Restore(ctx, pr, engine.RestoreOptions{})
	}()
	go pw.Write(data[:len(data)/2])
	c := pg.Connect(t, "postgres")
	for deadline := time.Now().Add(time.Minute); ; {
		var tables int
		var exists bool
		c.QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = 'app_envsync_shadow')").Scan(&exists)
		if exists {
			if sc, err := pgx.Connect(context.Background(), pg.DSN("app_envsync_shadow")); err == nil {
				sc.QueryRow(context.Background(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables)
				sc.Close(context.Background())
			}
		}
		if tables > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pg_restore never created a table in the shadow")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled restore succeeded")
	}
	pw.Close()
	if ok, diff := before.Equal(pg.Snapshot(t, "app")); !ok {
		t.Fatalf("live changed: %s", diff)
	}
	if dbs := pg.Databases(t); !slices.Equal(dbs, []string{"app"}) {
		t.Fatalf("databases after the cancelled restore: %v, want only app", dbs)
	}
	if !pg.AllowsConnections(t, "app") {
		t.Fatal("live refuses connections")
	}
}

func TestTheSwapKeepsLivesEncodingSettingsGrantsLimitAndComment(t *testing.T) {
	pg := newServer(t)
	pg.Exec(t, "postgres", "CREATE DATABASE app ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
	pg.Exec(t, "app", fixture)
	data := dump(t, pg, "app")
	pg.Exec(t, "postgres", `CREATE ROLE reader;
		ALTER DATABASE app SET work_mem TO '7MB';
		ALTER DATABASE app SET search_path TO "$user", audit, public;
		ALTER DATABASE app SET envsync.flag TO 'on';
		ALTER ROLE app_owner IN DATABASE app SET statement_timeout TO '5s';
		REVOKE ALL ON DATABASE app FROM PUBLIC;
		GRANT CONNECT ON DATABASE app TO reader;
		ALTER DATABASE app CONNECTION LIMIT 42;
		COMMENT ON DATABASE app IS 'the app''s database'`)
	properties := func() []string {
		c := pg.Connect(t, "postgres")
		rows, err := c.Query(context.Background(), `
			SELECT 'encoding ' || pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' || datctype FROM pg_database WHERE datname = 'app'
			UNION ALL SELECT 'limit ' || datconnlimit FROM pg_database WHERE datname = 'app'
			UNION ALL SELECT 'comment ' || shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'app'
			UNION ALL SELECT 'grant ' || coalesce(r.rolname, 'PUBLIC') || ' ' || a.privilege_type
				FROM pg_database d, aclexplode(d.datacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
				WHERE d.datname = 'app' AND a.grantee <> d.datdba
			UNION ALL SELECT 'setting ' || coalesce(r.rolname, '') || ' ' || cfg
				FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
				LEFT JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) cfg WHERE d.datname = 'app'
			ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := properties()
	if len(before) != 8 {
		t.Fatalf("the fixture's properties: %q", before)
	}
	if err := newEngine(t, pg, "app", "app_owner").Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := properties(); !slices.Equal(after, before) {
		t.Fatalf("the swap changed live's properties:\nbefore %q\nafter  %q", before, after)
	}
}

// With ENVSYNC_POSTGRES_LOAD_SESSIONS the rows are loaded by pgscript on
// several sessions instead of by pg_restore: the same copy, the same owner,
// and a dump that breaks off or a failing statement leave live as it was
// and nothing beside it.
func TestRestoreOnSeveralSessionsKeepsEveryGuarantee(t *testing.T) {
	src, dst := newServer(t), newServer(t)
	newEngine := func(t *testing.T, pg *testenv.Postgres, db, owner string) engine.Engine {
		t.Helper()
		e, err := postgres.New(engine.Config{Host: pg.Host, Port: pg.Port, User: pg.User, Password: pg.Password, Database: db, Owner: owner, LoadSessions: 3})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	seed(t, src, "app")
	data := dump(t, src, "app")
	dst.Exec(t, "postgres", "CREATE ROLE app_owner")
	if err := newEngine(t, dst, "app", "app_owner").Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if ok, diff := src.Snapshot(t, "app").Equal(dst.Snapshot(t, "app")); !ok {
		t.Fatalf("restored data differs: %s", diff)
	}
	var owner string
	var writers int
	c := dst.Connect(t, "app")
	c.QueryRow(context.Background(), "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'people'").Scan(&owner)
	c.QueryRow(context.Background(), "SELECT count(DISTINCT xmin::text) FROM people").Scan(&writers)
	// pg_restore writes a table's rows in one transaction; pgscript in one
	// per session.
	if owner != "app_owner" || writers < 2 {
		t.Fatalf("people is owned by %q and was written by %d sessions, want app_owner and several", owner, writers)
	}
	before := dst.Snapshot(t, "app")

	rows := bytes.Index(data, []byte("person1@example.com"))
	broken := slices.Clone(data)
	copy(broken[bytes.Index(data, []byte("CREATE TABLE public.people")):], "CREATE TABLE public.people (oops no_such_type);")
	for name, dump := range map[string][]byte{
		"a dump that breaks off inside the rows": data[:rows+len(data[rows:])/2],
		"a dump whose table cannot be created":   broken,
	} {
		t.Run(name, func(t *testing.T) {
			err := newEngine(t, dst, "app", "app_owner").Restore(context.Background(), bytes.NewReader(dump), engine.RestoreOptions{})
			if err == nil {
				t.Fatal("the restore succeeded")
			}
			t.Log(err)
			if ok, diff := before.Equal(dst.Snapshot(t, "app")); !ok {
				t.Fatalf("live changed: %s", diff)
			}
			if dbs := dst.Databases(t); !slices.Equal(dbs, []string{"app"}) {
				t.Fatalf("databases after the failed restore: %v, want only app", dbs)
			}
		})
	}
}

// A script that ends the transaction it runs in (the careless author's
// ROLLBACK, COMMIT or END) fails the restore before the swap and the
// transform before anything is applied: live keeps its real addresses.
func TestAScriptThatEndsItsTransactionFailsAndLiveIsUnchanged(t *testing.T) {
	pg := newServer(t)
	seed(t, pg, "app")
	data := dump(t, pg, "app")
	scripts := map[string]string{
		"ROLLBACK at the end":     "UPDATE people SET email = 'x@example.invalid';\nROLLBACK;",
		"COMMIT then a failure":   "UPDATE people SET email = 'x@example.invalid';\nCOMMIT;\nSELECT 1/0;",
		"END":                     "UPDATE people SET email = 'x@example.invalid';\nend;",
		"ROLLBACK TO a savepoint": "SAVEPOINT s;\nUPDATE people SET email = 'x@example.invalid';\nROLLBACK TO s;",
		"COMMIT after a comment":  "UPDATE people SET email = 'x@example.invalid';\n/* done */ COMMIT;\nDELETE FROM people;",
		"BEGIN of a second":       "UPDATE people SET email = 'x@example.invalid';\nBEGIN;\nDELETE FROM people;",
	}
	before := pg.Snapshot(t, "app")
	for name, script := range scripts {
		t.Run(name, func(t *testing.T) {
			for _, op := range []string{"restore", "transform"} {
				var err error
				e := newEngine(t, pg, "app", "app_owner")
				if op == "restore" {
					err = e.Restore(context.Background(), bytes.NewReader(data), engine.RestoreOptions{SanitiseScript: script})
				} else {
					err = e.Transform(context.Background(), script)
				}
				if err == nil || !strings.Contains(err.Error(), "nothing of it ran") {
					t.Errorf("%s: error %v, want the script refused before it ran", op, err)
				}
				if ok, diff := before.Equal(pg.Snapshot(t, "app")); !ok {
					t.Errorf("%s: live changed: %s", op, diff)
				}
			}
			if dbs := pg.Databases(t); !slices.Equal(dbs, []string{"app"}) {
				t.Errorf("databases after the refused restore: %v, want only app", dbs)
			}
		})
	}
	// Text that only looks like a transaction's end runs.
	ok := "UPDATE people SET note = 'COMMIT; ROLLBACK;' WHERE id = 1; -- ROLLBACK;\nUPDATE people SET name = $q$ ; END; $q$ WHERE id = 2;"
	if err := newEngine(t, pg, "app", "").Transform(context.Background(), ok); err != nil {
		t.Fatalf("a script with COMMIT only in strings and comments: %v", err)
	}
	var note, name string
	pg.Connect(t, "app").QueryRow(context.Background(), "SELECT (SELECT note FROM people WHERE id = 1), (SELECT name FROM people WHERE id = 2)").Scan(&note, &name)
	if note != "COMMIT; ROLLBACK;" || name != " ; END; " {
		t.Errorf("after the transform: note %q, name %q", note, name)
	}
}
