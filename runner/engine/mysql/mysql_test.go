package mysql_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/mysql"
	"github.com/envsync/envsync/testenv"
)

// sourceSchema has one of each thing a faithful copy must carry: keyword
// column names, binary and 4-byte UTF-8 data, NULLs, a foreign key, views
// (one on another), triggers, routines, an event, and a DEFINER that does
// not exist on the server restored to.
const sourceSchema = "CREATE TABLE users (id INT PRIMARY KEY AUTO_INCREMENT, email VARCHAR(200) NOT NULL, `order` INT, `key` VARCHAR(20), avatar BLOB, note TEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n" +
	"CREATE TABLE orders (id INT PRIMARY KEY, user_id INT NOT NULL, total DECIMAL(10,2), placed DATETIME(6), FOREIGN KEY (user_id) REFERENCES users(id)) ENGINE=InnoDB;\n" +
	"CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, what VARCHAR(100)) ENGINE=InnoDB;\n" +
	"CREATE TABLE legacy (k INT, v VARCHAR(10)) ENGINE=MyISAM;\n" +
	"INSERT INTO users (email, `order`, `key`, avatar, note) VALUES ('a@example.org', 1, 'k1', 0x00FF10, 'caf\u00e9 \U0001F600'), ('b@example.org', NULL, NULL, NULL, NULL), ('c@example.org', 3, '', '', 'line\\nbreak ''quoted''');\n" +
	"INSERT INTO orders VALUES (1, 1, 12.50, '2024-01-02 03:04:05.123456'), (2, 1, 0.01, NULL), (3, 3, 99.99, '2023-12-31 23:59:59');\n" +
	"INSERT INTO legacy VALUES (1, 'x'), (1, 'x'), (NULL, NULL);\n" +
	"CREATE VIEW user_totals AS SELECT u.id, u.email, SUM(o.total) AS total FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id, u.email;\n" +
	"CREATE VIEW big_spenders AS SELECT id, email FROM user_totals WHERE total > 10;\n" +
	"CREATE DEFINER='ghost'@'%' SQL SECURITY INVOKER VIEW ghost_view AS SELECT COUNT(*) AS n FROM users;\n" +
	"CREATE TRIGGER users_ai AFTER INSERT ON users FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('user ', NEW.id));\n" +
	"CREATE DEFINER='ghost'@'%' TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.total = ROUND(NEW.total, 1);\n" +
	"CREATE FUNCTION order_count(uid INT) RETURNS INT READS SQL DATA RETURN (SELECT COUNT(*) FROM orders WHERE user_id = uid);\n" +
	"CREATE PROCEDURE purge_audit() BEGIN DELETE FROM audit; END;\n" +
	// A body line that looks like a row of data must stay in the body.
	"CREATE PROCEDURE log_call()\nBEGIN\nINSERT INTO audit (what) VALUES ('called');\nEND;\n" +
	"CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit;\n"

func newEngine(t *testing.T, m *testenv.MariaDB, database string) engine.Engine {
	t.Helper()
	e, err := mysql.New(engine.Config{Host: m.Host, Port: m.Port, User: m.User, Password: m.Password, Database: database})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func createSource(t *testing.T, m *testenv.MariaDB, schema string) {
	t.Helper()
	m.Exec(t, "", "CREATE DATABASE `"+schema+"` CHARACTER SET utf8mb4")
	m.Exec(t, schema, sourceSchema)
}

func dump(t *testing.T, e engine.Engine) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := e.Dump(t.Context(), &b); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return b.Bytes()
}

// snapshot is everything a restore must reproduce.
type snapshot struct {
	Tables, Views, Triggers, Routines, Events []string
	Rows                                      map[string]string
}

func snap(t *testing.T, m *testenv.MariaDB, schema string) snapshot {
	t.Helper()
	return snapshot{m.Tables(t, schema), m.Views(t, schema), m.Triggers(t, schema), m.Routines(t, schema), m.Events(t, schema), m.Checksums(t, schema)}
}

func assertSame(t *testing.T, what string, got, want snapshot) {
	t.Helper()
	g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want)
	if g != w {
		t.Errorf("%s differs:\n got: %s\nwant: %s", what, g, w)
	}
}

func assertNoWorkingSchemas(t *testing.T, m *testenv.MariaDB, live string) {
	t.Helper()
	for _, s := range []string{mysql.ShadowName(live), mysql.OldName(live)} {
		if m.SchemaExists(t, s) {
			t.Errorf("schema %s was left behind", s)
		}
	}
}

func TestARoundTripCopiesTablesViewsTriggersRoutinesAndRows(t *testing.T) {
	src, dst := testenv.StartMariaDB(t), testenv.StartMariaDB(t)
	createSource(t, src, "shop")
	want := snap(t, src, "shop")
	d := dump(t, newEngine(t, src, "shop"))
	if err := newEngine(t, src, "shop").Check(t.Context(), bytes.NewReader(d)); err != nil {
		t.Fatalf("check of a fresh dump: %v", err)
	}

	// Into a server where the schema does not exist yet.
	if err := newEngine(t, dst, "shop").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{}); err != nil {
		t.Fatalf("restore into a new schema: %v", err)
	}
	assertSame(t, "restored into a new schema", snap(t, dst, "shop"), want)
	assertNoWorkingSchemas(t, dst, "shop")

	// Over an existing, different copy: everything is replaced, tables
	// and views that are not in the dump go.
	dst.Exec(t, "shop", "INSERT INTO audit (what) VALUES ('stale'); CREATE TABLE only_here (x INT); CREATE VIEW only_here_v AS SELECT x FROM only_here; CREATE PROCEDURE only_here_p() SELECT 1; DROP PROCEDURE purge_audit; CREATE PROCEDURE purge_audit() SELECT 'changed here'; CREATE OR REPLACE VIEW big_spenders AS SELECT 1 AS changed")
	if err := newEngine(t, dst, "shop").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{}); err != nil {
		t.Fatalf("restore over an existing schema: %v", err)
	}
	assertSame(t, "restored over an existing schema", snap(t, dst, "shop"), want)
	assertNoWorkingSchemas(t, dst, "shop")

	// The triggers and routines work in their new home.
	dst.Exec(t, "shop", "INSERT INTO users (email) VALUES ('d@example.org'); INSERT INTO orders VALUES (9, 4, 1.26, NULL)")
	var audit int
	var total string
	if err := dst.Root().QueryRow("SELECT (SELECT COUNT(*) FROM shop.audit WHERE what = 'user 4'), (SELECT total FROM shop.orders WHERE id = 9)").Scan(&audit, &total); err != nil {
		t.Fatal(err)
	}
	if audit != 1 || total != "1.30" {
		t.Errorf("after the restore the triggers did not fire on live: audit rows %d, total %s", audit, total)
	}
	var n int
	if err := dst.Root().QueryRow("SELECT shop.order_count(1)").Scan(&n); err != nil || n != 2 {
		t.Errorf("shop.order_count(1) = %d, %v; want 2", n, err)
	}
}

func TestASanitiseScriptRunsOnTheShadowBeforeTheSwap(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "shop")
	d := dump(t, newEngine(t, m, "shop"))
	script := "-- personal data out\n" +
		"SET @domain = 'example.invalid';\n" +
		"UPDATE users u JOIN orders o ON o.user_id = u.id SET u.email = CONCAT('user', u.id, '@', @domain), o.total = 0;\n" +
		"UPDATE users SET `key` = NULL, `order` = 0 WHERE `order` IS NOT NULL;\n"
	var sawLive []string
	opts := engine.RestoreOptions{SanitiseScript: script, BeforeSwap: func() error {
		sawLive = m.Tables(t, "shop")
		return nil
	}}
	if err := newEngine(t, m, "shop").Restore(t.Context(), bytes.NewReader(d), opts); err != nil {
		t.Fatalf("restore with a sanitise script: %v", err)
	}
	if len(sawLive) == 0 {
		t.Errorf("live had no tables just before the swap")
	}
	var emails string
	var totals float64
	var keys int
	m.Root().QueryRow("SELECT GROUP_CONCAT(email ORDER BY id), (SELECT SUM(total) FROM shop.orders), (SELECT COUNT(`key`) FROM shop.users) FROM shop.users").Scan(&emails, &totals, &keys)
	if emails != "user1@example.invalid,b@example.org,user3@example.invalid" || totals != 0 || keys != 0 {
		t.Errorf("live after a sanitised restore: emails %q, total %v, keys %d", emails, totals, keys)
	}
	assertNoWorkingSchemas(t, m, "shop")
}

func TestAFailingSanitiseLeavesLiveUntouched(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "shop")
	d := dump(t, newEngine(t, m, "shop"))
	m.Exec(t, "shop", "UPDATE users SET email = 'changed-after-dump@example.org' WHERE id = 2")
	before := snap(t, m, "shop")
	script := "UPDATE users SET email = 'x';\n\nUPDATE users SET no_such_column = 1;\nUPDATE users SET note = 'never';\n"
	err := newEngine(t, m, "shop").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{SanitiseScript: script})
	if err == nil {
		t.Fatal("a restore whose sanitise script fails succeeded")
	}
	if !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "no_such_column") {
		t.Errorf("the error does not name the script's line 3 and the column: %v", err)
	}
	assertSame(t, "live after a failed sanitise", snap(t, m, "shop"), before)
	assertNoWorkingSchemas(t, m, "shop")
}

func TestAFailingBeforeSwapLeavesLiveUntouched(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "shop")
	d := dump(t, newEngine(t, m, "shop"))
	m.Exec(t, "shop", "DELETE FROM orders WHERE id = 3")
	before := snap(t, m, "shop")
	err := newEngine(t, m, "shop").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{BeforeSwap: func() error { return errors.New("checksum mismatch") }})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("restore error = %v, want the BeforeSwap error", err)
	}
	assertSame(t, "live after a refused swap", snap(t, m, "shop"), before)
	assertNoWorkingSchemas(t, m, "shop")
}

func TestNotAMySQLDumpIsRefusedBeforeAnythingIsTouched(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "shop")
	d := dump(t, newEngine(t, m, "shop"))
	cut := bytes.LastIndex(d, []byte("-- Dump completed"))
	cases := []struct{ name, dump, want string }{
		{"a PostgreSQL custom dump", "PGDMP\x01\x0e\x00\x04\x08\x01\x01\x01\x00\x00\x00\x00", "PostgreSQL"},
		{"garbage", "\x00\x01 this is not a dump at all", "header"},
		{"an empty stream", "", "empty"},
		{"a gzip stream", "\x1f\x8b\x08\x00\x00\x00", "gzip"},
		{"a dump cut before its trailer", string(d[:cut]), "truncated"},
		{"a dump cut in the middle of its data", string(d[:len(d)/2]), "truncated"},
	}
	before := snap(t, m, "shop")
	schemas := m.Schemas(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, m, "shop")
			err := e.Check(t.Context(), strings.NewReader(c.dump))
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, mysql.ErrNotMySQLDump) {
				t.Errorf("check: error %v, want one saying %q", err, c.want)
			}
			err = e.Restore(t.Context(), strings.NewReader(c.dump), engine.RestoreOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("restore: error %v, want one saying %q", err, c.want)
			}
			assertSame(t, "live after a refused dump", snap(t, m, "shop"), before)
			if got := m.Schemas(t); !slices.Equal(got, schemas) {
				t.Errorf("schemas after a refused dump: %v, want %v", got, schemas)
			}
		})
	}
}

func TestReadersOfLiveSeeNoErrorDuringAWholeRestore(t *testing.T) {
	m := testenv.StartMariaDB(t)
	m.Exec(t, "", "CREATE DATABASE app")
	m.Exec(t, "app", `CREATE TABLE a (id INT PRIMARY KEY AUTO_INCREMENT, pad CHAR(200));
		CREATE TABLE b LIKE a; CREATE TABLE c LIKE a;
		INSERT INTO a (pad) VALUES ('x'),('x'),('x'),('x'),('x'),('x'),('x'),('x');
		INSERT INTO a (pad) SELECT pad FROM a; INSERT INTO a (pad) SELECT pad FROM a; INSERT INTO a (pad) SELECT pad FROM a;
		INSERT INTO a (pad) SELECT pad FROM a; INSERT INTO a (pad) SELECT pad FROM a; INSERT INTO a (pad) SELECT pad FROM a;
		INSERT INTO a (pad) SELECT pad FROM a; INSERT INTO a (pad) SELECT pad FROM a; INSERT INTO a (pad) SELECT pad FROM a;
		INSERT INTO a (pad) SELECT pad FROM a; INSERT INTO a (pad) SELECT pad FROM a; INSERT INTO a (pad) SELECT pad FROM a;
		INSERT INTO a (pad) SELECT pad FROM a; INSERT INTO a (pad) SELECT pad FROM a;
		INSERT INTO b SELECT * FROM a; INSERT INTO c SELECT * FROM a;
		CREATE VIEW abc AS SELECT (SELECT COUNT(*) FROM a) + (SELECT COUNT(*) FROM b) + (SELECT COUNT(*) FROM c) AS n;
		CREATE TRIGGER a_bi BEFORE INSERT ON a FOR EACH ROW SET NEW.pad = UPPER(NEW.pad)`)
	d := dump(t, newEngine(t, m, "app"))

	reader := m.DB(t, "app")
	queries := []string{"SELECT COUNT(*) FROM a", "SELECT COUNT(*) FROM b", "SELECT COUNT(*) FROM c", "SELECT n FROM abc"}
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		errs     []error
		longest  time.Duration
		readsRun int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			for _, q := range queries {
				start := time.Now()
				var n int64
				err := reader.QueryRow(q).Scan(&n)
				if took := time.Since(start); took > longest {
					longest = took
				}
				readsRun++
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", q, err))
				} else if n == 0 {
					errs = append(errs, fmt.Errorf("%s: no rows", q))
				}
			}
		}
	}()
	start := time.Now()
	err := newEngine(t, m, "app").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{SanitiseScript: "UPDATE a SET pad = 'sanitised' WHERE id < 100"})
	took := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if len(errs) > 0 {
		t.Errorf("a reader of live got %d errors during the restore, first: %v", len(errs), errs[0])
	}
	if readsRun < 10 {
		t.Errorf("the reader ran only %d queries during the restore; the test did not watch it", readsRun)
	}
	t.Logf("restore of %d bytes took %s; a reader ran %d queries on live, the longest took %s", len(d), took, readsRun, longest)
	if got := m.Triggers(t, "app"); len(got) != 1 {
		t.Errorf("live triggers after the restore: %v", got)
	}
}

func TestTransformStopsAtTheFirstErrorAndRollsBack(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "shop")
	before := snap(t, m, "shop")
	e := newEngine(t, m, "shop")
	err := e.Transform(t.Context(), "UPDATE users SET note = 'first';\nUPDATE users SET nope = 1;\nUPDATE users SET note = 'third';")
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("transform error = %v, want one naming line 2", err)
	}
	assertSame(t, "live after a failed transform", snap(t, m, "shop"), before)
	if err := e.Transform(t.Context(), "SET @n = 'done';\nUPDATE users u JOIN orders o ON o.user_id = u.id SET u.note = @n;"); err != nil {
		t.Fatalf("transform: %v", err)
	}
	var n int
	m.Root().QueryRow("SELECT COUNT(*) FROM shop.users WHERE note = 'done'").Scan(&n)
	if n != 2 {
		t.Errorf("transform updated %d users, want 2", n)
	}
}

func TestThePasswordNeverAppearsInChildProcessArguments(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "shop")
	e := newEngine(t, m, "shop")
	stop := testenv.WatchArguments(m.Password, "mariadb", "mysql", "mariadb-dump", "mysqldump")
	d := dump(t, e)
	if err := e.Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{SanitiseScript: "UPDATE users SET note = NULL;"}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if err := e.Transform(t.Context(), "UPDATE users SET note = 'x';"); err != nil {
		t.Fatalf("transform: %v", err)
	}
	args := stop()
	if len(args.Leaks) > 0 {
		t.Errorf("the password appeared in a process's arguments: %q", args.Leaks)
	}
	if len(args.Tools) == 0 {
		t.Errorf("the poller never saw a mysql client process; it proved nothing")
	}
}

func TestADumpMadeWithDatabasesLoadsIntoTheShadowNotIntoItsNamedSchema(t *testing.T) {
	src, dst := testenv.StartMariaDB(t), testenv.StartMariaDB(t)
	createSource(t, src, "shop_production")
	want := snap(t, src, "shop_production")
	cmd := exec.Command("mysqldump", "--single-transaction", "--routines", "--triggers", "--events",
		"-h", src.Host, "-P", strconv.Itoa(src.Port), "-u", src.User, "--databases", "shop_production")
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+src.Password)
	d, err := cmd.Output()
	if err != nil {
		t.Fatalf("mysqldump --databases: %v", err)
	}
	if !bytes.Contains(d, []byte("USE `shop_production`")) {
		t.Fatalf("the dump has no USE statement; the test proves nothing")
	}
	if err := newEngine(t, dst, "shop").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if dst.SchemaExists(t, "shop_production") {
		t.Errorf("the restore created the dump's own schema shop_production")
	}
	got := snap(t, dst, "shop")
	if fmt.Sprint(got.Tables, got.Rows, len(got.Views), len(got.Triggers), len(got.Routines)) != fmt.Sprint(want.Tables, want.Rows, len(want.Views), len(want.Triggers), len(want.Routines)) {
		t.Errorf("restored shop differs from shop_production:\n got: %#v\nwant: %#v", got, want)
	}
	assertNoWorkingSchemas(t, dst, "shop")
}

func TestWorkingSchemaNamesStayWithinMySQLsLimit(t *testing.T) {
	long := strings.Repeat("a", 60) + "bcde"
	other := strings.Repeat("a", 60) + "bcdf"
	for _, n := range []string{mysql.ShadowName(long), mysql.OldName(long), mysql.ShadowName("x")} {
		if len(n) > 64 {
			t.Errorf("%q is %d characters, more than 64", n, len(n))
		}
	}
	if mysql.ShadowName(long) == mysql.ShadowName(other) || mysql.ShadowName(long) == mysql.OldName(long) {
		t.Errorf("working schema names collide: %s, %s, %s", mysql.ShadowName(long), mysql.ShadowName(other), mysql.OldName(long))
	}
	if got := mysql.ShadowName("whitehall"); got != "whitehall__envsync_shadow" {
		t.Errorf("ShadowName(whitehall) = %q", got)
	}
}

func TestATransactionHoldingLiveTablesDelaysTheSwapButDoesNotBreakIt(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "shop")
	d := dump(t, newEngine(t, m, "shop"))
	m.Exec(t, "shop", "DELETE FROM orders")
	holder := m.DB(t, "shop")
	var released atomic.Bool
	opts := engine.RestoreOptions{BeforeSwap: func() error {
		// An application transaction that read live and keeps its
		// metadata lock for a few seconds, past several lock waits.
		tx, err := holder.Begin()
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil {
			return err
		}
		go func() {
			time.Sleep(3 * time.Second)
			released.Store(true)
			tx.Commit()
		}()
		return nil
	}}
	if err := newEngine(t, m, "shop").Restore(t.Context(), bytes.NewReader(d), opts); err != nil {
		t.Fatalf("restore while a transaction held live's tables: %v", err)
	}
	if !released.Load() {
		t.Errorf("the swap finished while the transaction still held live's tables")
	}
	var n int
	m.Root().QueryRow("SELECT COUNT(*) FROM shop.orders").Scan(&n)
	if n != 3 {
		t.Errorf("live has %d orders after the swap, want the dump's 3", n)
	}
	assertNoWorkingSchemas(t, m, "shop")
}

// showCreate is every table's SHOW CREATE TABLE, AUTO_INCREMENT left out.
func showCreate(t *testing.T, m *testenv.MariaDB, schema string) map[string]string {
	t.Helper()
	out := map[string]string{}
	db := m.DB(t, schema)
	for _, table := range m.Tables(t, schema) {
		var name, create string
		if err := db.QueryRow("SHOW CREATE TABLE `"+table+"`").Scan(&name, &create); err != nil {
			t.Fatal(err)
		}
		out[table] = regexp.MustCompile(` AUTO_INCREMENT=\d+`).ReplaceAllString(create, "")
	}
	return out
}

func TestSecondaryKeysBuiltAfterTheRowsComeBackAsTheDumpDeclaredThem(t *testing.T) {
	src, dst := testenv.StartMariaDB(t), testenv.StartMariaDB(t)
	src.Exec(t, "", "CREATE DATABASE docs CHARACTER SET utf8mb4")
	src.Exec(t, "docs", "CREATE TABLE docs (id INT PRIMARY KEY AUTO_INCREMENT, slug CHAR(32) NOT NULL, title VARCHAR(200), body TEXT, UNIQUE KEY slug_u (slug), KEY title_prefix (title(20)), KEY slug_title (slug, title), FULLTEXT KEY body_ft (body)) ENGINE=InnoDB;\n"+
		"CREATE TABLE tags (doc_id INT NOT NULL, tag VARCHAR(40), KEY tag (tag), CONSTRAINT tag_doc FOREIGN KEY (doc_id) REFERENCES docs (id)) ENGINE=InnoDB;\n"+
		"CREATE TABLE empty_one (id INT PRIMARY KEY, v INT, KEY v (v)) ENGINE=InnoDB;\n"+
		"INSERT INTO docs (slug, title, body) SELECT MD5(seq), CONCAT('Doc ', seq), REPEAT('word ', seq % 50) FROM seq_1_to_3000;\n"+
		"INSERT INTO tags SELECT id, CONCAT('t', id % 7) FROM docs;")
	want, wantRows := showCreate(t, src, "docs"), src.Checksums(t, "docs")
	d := dump(t, newEngine(t, src, "docs"))
	if err := newEngine(t, dst, "docs").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := showCreate(t, dst, "docs"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tables after the restore:\n%v\nwant:\n%v", got, want)
	}
	if got := dst.Checksums(t, "docs"); fmt.Sprint(got) != fmt.Sprint(wantRows) {
		t.Errorf("rows %v, want %v", got, wantRows)
	}

	// A key that cannot be built (a dump edited by hand to repeat a
	// unique slug) fails the load before the swap: live stays as it was.
	before := showCreate(t, dst, "docs")
	first := regexp.MustCompile(`\(1,'([0-9a-f]{32})'`).FindSubmatch(d)
	second := regexp.MustCompile(`\(2,'[0-9a-f]{32}'`).Find(d)
	broken := bytes.Replace(d, second, []byte(`(2,'`+string(first[1])+`'`), 1)
	err := newEngine(t, dst, "docs").Restore(t.Context(), bytes.NewReader(broken), engine.RestoreOptions{})
	if err == nil || !strings.Contains(err.Error(), "building keys") {
		t.Fatalf("a dump whose unique key cannot be built: %v", err)
	}
	if got := showCreate(t, dst, "docs"); fmt.Sprint(got) != fmt.Sprint(before) || fmt.Sprint(dst.Checksums(t, "docs")) != fmt.Sprint(wantRows) {
		t.Error("the failed restore changed live")
	}
	assertNoWorkingSchemas(t, dst, "docs")
}

// A script that ends the transaction it runs in fails before anything of
// it runs, as a restore's sanitise (live untouched, no shadow left) and as
// a transform (live untouched); a client command (\! runs a shell in the
// pod) runs nothing; DDL on live is refused up front since MySQL commits
// before it.
func TestAScriptThatEndsItsTransactionOrCallsTheShellFailsAndLiveIsUnchanged(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "shop")
	d := dump(t, newEngine(t, m, "shop"))
	pwned := t.TempDir() + "/pwned"
	scripts := map[string]string{
		"ROLLBACK at the end":   "UPDATE users SET email = 'x@example.invalid';\nROLLBACK;",
		"COMMIT then a failure": "UPDATE users SET email = 'x@example.invalid';\nCOMMIT;\nSELECT * FROM nowhere;",
		"autocommit on":         "UPDATE users SET email = 'x@example.invalid';\nSET autocommit = 1;",
		"a shell command":       "UPDATE users SET email = 'x@example.invalid';\n\\! touch " + pwned + "\n",
		"system":                "UPDATE users SET email = 'x@example.invalid';\nsystem touch " + pwned + "\n",
		"an executable comment": "UPDATE users SET email = 'x@example.invalid';\n/*!40000 COMMIT */;\n",
	}
	before := snap(t, m, "shop")
	for name, script := range scripts {
		t.Run(name, func(t *testing.T) {
			err := newEngine(t, m, "shop").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{SanitiseScript: script})
			if err == nil {
				t.Errorf("restore succeeded")
			}
			assertSame(t, "live after the refused sanitise", snap(t, m, "shop"), before)
			assertNoWorkingSchemas(t, m, "shop")
			if err := newEngine(t, m, "shop").Transform(t.Context(), script); err == nil {
				t.Errorf("transform succeeded")
			}
			assertSame(t, "live after the refused transform", snap(t, m, "shop"), before)
			if _, err := os.Stat(pwned); err == nil {
				t.Errorf("the script ran a shell command")
			}
		})
	}
	err := newEngine(t, m, "shop").Transform(t.Context(), "UPDATE users SET note = 'x';\nTRUNCATE audit;")
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "commits before it") {
		t.Errorf("transform with DDL: %v, want it refused at line 2", err)
	}
	assertSame(t, "live after a transform with DDL", snap(t, m, "shop"), before)
	// On the shadow DDL is allowed: a failure after it still drops the shadow.
	err = newEngine(t, m, "shop").Restore(t.Context(), bytes.NewReader(d), engine.RestoreOptions{SanitiseScript: "TRUNCATE audit;\nUPDATE users SET email = 'x@example.invalid';\nUPDATE users SET nope = 1;"})
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("sanitise failing after DDL: %v, want line 3", err)
	}
	assertSame(t, "live after a sanitise failing after DDL", snap(t, m, "shop"), before)
	assertNoWorkingSchemas(t, m, "shop")
}

// A dump carrying a client command (an old dump edited, or one from a
// client without MariaDB's sandbox line) runs no shell: the load fails and
// live is untouched.
func TestADumpWithAShellCommandRunsNothing(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "shop")
	d := dump(t, newEngine(t, m, "shop"))
	d = bytes.ReplaceAll(d, []byte("/*M!999999\\- enable the sandbox mode */ \n"), nil)
	pwned := t.TempDir() + "/pwned"
	at := bytes.Index(d, []byte("\nCREATE TABLE"))
	hostile := slices.Concat(d[:at+1], []byte("\\! touch "+pwned+"\n"), d[at+1:])
	before := snap(t, m, "shop")
	err := newEngine(t, m, "shop").Restore(t.Context(), bytes.NewReader(hostile), engine.RestoreOptions{})
	if err == nil {
		t.Error("a dump with a shell command restored")
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("the dump's shell command ran")
	}
	assertSame(t, "live after the refused dump", snap(t, m, "shop"), before)
	assertNoWorkingSchemas(t, m, "shop")
}
