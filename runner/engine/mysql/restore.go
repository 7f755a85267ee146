package mysql

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/testpause"
)

// The schemas a restore works in, beside the live one. A killed run leaves
// them behind and the next run drops them.
const (
	shadowSuffix = "__envsync_shadow"
	oldSuffix    = "__envsync_old"
)

// auxName is the name of a schema beside live, within MySQL's 64
// characters: a long live name is cut and made unique by a hash.
func auxName(live, suffix string) string {
	if len(live)+len(suffix) <= 64 {
		return live + suffix
	}
	sum := sha256.Sum256([]byte(live))
	keep := 64 - len(suffix) - 9
	return live[:keep] + "_" + hex.EncodeToString(sum[:4]) + suffix
}

// ShadowName and OldName are the working schemas of a restore of live.
func ShadowName(live string) string { return auxName(live, shadowSuffix) }
func OldName(live string) string    { return auxName(live, oldSuffix) }

func quoteName(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// Restore loads the dump into a shadow schema, sanitises it there and swaps
// it in with one RENAME TABLE.
func (e *Engine) Restore(ctx context.Context, r io.Reader, opts engine.RestoreOptions) error {
	live := e.cfg.Database
	shadow, old := ShadowName(live), OldName(live)

	// Refuse what is not a mysqldump before touching anything.
	br := bufio.NewReaderSize(r, 1<<20)
	if err := checkHeader(br); err != nil {
		return err
	}

	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("mysql: connecting to %s:%d: %w", e.cfg.Host, e.cfg.Port, err)
	}
	// One restore of a schema at a time: a second one would drop the
	// first one's shadow. The named lock goes with its session, so a killed
	// run does not hold it.
	unlock, err := e.restoreLock(ctx, db, live)
	if err != nil {
		return err
	}
	defer unlock()
	if err := e.cleanup(ctx, db, shadow, old); err != nil {
		return err
	}

	charset, collation, err := schemaCharset(ctx, db, live)
	if err != nil {
		return err
	}
	create := "CREATE DATABASE " + quoteName(shadow)
	if charset != "" {
		create += " CHARACTER SET " + charset + " COLLATE " + collation
	}
	if _, err := db.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("mysql: creating the shadow schema %s: %w", shadow, err)
	}
	// From here on, a failure drops the shadow; live was never touched.
	ok := false
	defer func() {
		if !ok {
			e.dropSchema(context.WithoutCancel(ctx), db, shadow)
		}
	}()

	e.log.Info("loading the dump into the shadow schema", "shadow", shadow)
	started := time.Now()
	if err := e.load(ctx, br, shadow); err != nil {
		return err
	}
	e.log.Info("loaded the dump into the shadow schema", "shadow", shadow, "seconds", time.Since(started).Seconds())

	if len(opts.Rows) > 0 {
		count := func(ctx context.Context, table string) (int64, error) { return countRows(ctx, db, shadow, table) }
		if err := engine.CheckRows(ctx, opts.Rows, count); err != nil {
			return fmt.Errorf("mysql: %s (live untouched): %w", live, err)
		}
		e.log.Info("the loaded shadow holds every row the backup dumped", "tables", len(opts.Rows))
	}
	if opts.Gate != nil {
		if err := opts.Gate.Before(ctx, gateDB{db, shadow}); err != nil {
			return fmt.Errorf("mysql: %s (live untouched): %w", live, err)
		}
	}
	if strings.TrimSpace(opts.SanitiseScript) != "" {
		e.log.Info("running the sanitise script on the shadow schema", "shadow", shadow)
		if err := e.runScript(ctx, shadow, opts.SanitiseScript, false); err != nil {
			return fmt.Errorf("mysql: sanitise script on the shadow of %s (live untouched): %w", live, err)
		}
	}
	if g := opts.Gate; g != nil {
		started := time.Now()
		if err := g.After(ctx, gateDB{db, shadow}); err != nil {
			return fmt.Errorf("mysql: %s (live untouched): %w", live, err)
		}
		e.log.Info("personal-data gate passed", "columns_checked", g.Checked, "findings", g.Findings, "seconds", time.Since(started).Seconds())
	}
	if opts.BeforeSwap != nil {
		if err := opts.BeforeSwap(); err != nil {
			return fmt.Errorf("mysql: before the swap (live untouched): %w", err)
		}
	}
	testpause.At("swap")
	if err := e.swap(ctx, db, live, shadow, old, charset, collation); err != nil {
		return err
	}
	ok = true
	// Live is the new copy: a stop now must not leave the old one behind.
	e.dropSchema(context.WithoutCancel(ctx), db, old)
	e.dropSchema(context.WithoutCancel(ctx), db, shadow)
	return nil
}

// cleanup ends sessions a killed run left in the working schemas and drops
// them.
func (e *Engine) cleanup(ctx context.Context, db *sql.DB, schemas ...string) error {
	for _, s := range schemas {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", s).Scan(&n); err != nil {
			return fmt.Errorf("mysql: looking for %s: %w", s, err)
		}
		if n == 0 {
			continue
		}
		e.log.Warn("dropping a schema left by an earlier run", "schema", s)
		rows, err := db.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", s)
		if err != nil {
			return fmt.Errorf("mysql: sessions in %s: %w", s, err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err == nil {
				ids = append(ids, id)
			}
		}
		rows.Close()
		for _, id := range ids {
			// The session may end on its own meanwhile; that is fine.
			db.ExecContext(ctx, fmt.Sprintf("KILL %d", id))
		}
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteName(s)); err != nil {
			return fmt.Errorf("mysql: dropping %s left by an earlier run: %w", s, err)
		}
	}
	return nil
}

func (e *Engine) dropSchema(ctx context.Context, db *sql.DB, s string) {
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteName(s)); err != nil {
		e.log.Warn("could not drop a working schema; the next run will", "schema", s, "error", err)
	}
}

// schemaCharset is live's default character set and collation, empty when
// live does not exist.
func schemaCharset(ctx context.Context, db *sql.DB, schema string) (string, string, error) {
	var cs, co string
	err := db.QueryRowContext(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", schema).Scan(&cs, &co)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("mysql: reading %s: %w", schema, err)
	}
	return cs, co, nil
}

// load streams the dump into the mysql client connected to the shadow.
func (e *Engine) load(ctx context.Context, br *bufio.Reader, shadow string) error {
	c, err := e.newClient("mariadb", "mysql")
	if err != nil {
		return err
	}
	defer c.close()
	// --sandbox: a dump is data, never commands for the client (\! would
	// run a shell in the pod); MariaDB's own dumps ask for it in their first
	// line, older ones and MySQL's do not.
	cmd := c.command(ctx, "--sandbox", "--batch", "--skip-column-names", "--unbuffered",
		"--default-character-set=utf8mb4", "--max-allowed-packet=1G", "--database="+shadow)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr stderrTail
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mysql: starting %s: %w", c.bin, err)
	}
	var tw trailerWatch
	f := &loadFilter{br: br, w: in, tee: &tw, onData: func() { testpause.At("restore") }, barrier: newBarrier(in, out)}
	if n := e.loadWorkers(); n > 0 {
		if f.sink, err = e.newInserters(ctx, shadow, n); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
		defer f.sink.close()
		if f.keys, err = e.newKeyBuilder(ctx, shadow, &f.sink.setup); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
		defer f.keys.close()
	}
	ferr := f.run()
	if ferr == nil && f.keys != nil {
		ferr = f.keys.finish()
	}
	if ferr == nil {
		ferr = tw.check()
	}
	if ferr != nil {
		// Do not let the client commit a partial load: kill it.
		cmd.Process.Kill()
	}
	in.Close()
	werr := cmd.Wait()
	if ferr != nil {
		if msg := stderr.String(); msg != "" && !errors.Is(ferr, ErrNotMySQLDump) {
			return fmt.Errorf("mysql: loading into %s: %w (%s)", shadow, ferr, msg)
		}
		return fmt.Errorf("mysql: loading into %s: %w", shadow, ferr)
	}
	if werr != nil {
		return fmt.Errorf("mysql: loading into %s: %w: %s", shadow, werr, stderr.String())
	}
	return nil
}

// object is a view, trigger, routine or event: what RENAME TABLE does not
// move, recreated in live from its definition in the shadow.
type object struct {
	kind, name string
	create     string // CREATE statement without DEFINER, names unqualified
	sqlMode    string
	charset    string
	collation  string
}

// swap moves the shadow's tables into live with one RENAME TABLE and
// recreates triggers, views, routines and events around it.
//
// A stop (SIGTERM) is heeded between statements until the RENAME, never
// inside one: the driver cancels a statement by closing its connection,
// which may let the statement complete on the server while the session
// that was to put live's triggers back is gone. Every statement runs
// uncancelled (ctx); stop is checked before each one that may be skipped.
func (e *Engine) swap(stop context.Context, db *sql.DB, live, shadow, old, charset, collation string) error {
	ctx := context.WithoutCancel(stop)
	stopped := func() error {
		if err := stop.Err(); err != nil {
			return fmt.Errorf("mysql: stopped before the swap (live untouched): %w", err)
		}
		return nil
	}
	if err := stopped(); err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mysql: %w", err)
	}
	defer conn.Close()
	// Every statement that locks live's tables waits at most a second, and
	// is retried: while it waits, readers of those tables queue behind it.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", lockWait)); err != nil {
		return fmt.Errorf("mysql: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SET SESSION lock_wait_timeout = DEFAULT")
	create := "CREATE DATABASE IF NOT EXISTS " + quoteName(live)
	if charset == "" {
		if cs, co, err := schemaCharset(ctx, db, shadow); err == nil && cs != "" {
			create += " CHARACTER SET " + cs + " COLLATE " + co
		}
	}
	for _, q := range []string{create, "CREATE DATABASE " + quoteName(old)} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mysql: %s: %w", q, err)
		}
	}
	// Until the RENAME, old is empty and a failure leaves nothing in it.
	renamed := false
	defer func() {
		if !renamed {
			e.dropSchema(context.WithoutCancel(ctx), db, old)
		}
	}()

	newTables, err := names(ctx, conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME", shadow)
	if err != nil {
		return err
	}
	oldTables, err := names(ctx, conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME", live)
	if err != nil {
		return err
	}
	newObjects, err := objects(ctx, conn, shadow)
	if err != nil {
		return err
	}
	oldObjects, err := objects(ctx, conn, live)
	if err != nil {
		return err
	}
	liveViews := map[string]bool{}
	for _, o := range oldObjects {
		if o.kind == "VIEW" {
			liveViews[o.name] = true
		}
	}

	// RENAME TABLE refuses to move a table with triggers to another schema:
	// drop them on both sides, and put live's back if the rename fails.
	if err := stopped(); err != nil {
		return err
	}
	for _, o := range newObjects {
		if o.kind == "TRIGGER" {
			if _, err := conn.ExecContext(ctx, "DROP TRIGGER "+quoteName(shadow)+"."+quoteName(o.name)); err != nil {
				return fmt.Errorf("mysql: dropping trigger %s in the shadow: %w", o.name, err)
			}
		}
	}
	var liveTriggers []object
	for _, o := range oldObjects {
		if o.kind == "TRIGGER" {
			liveTriggers = append(liveTriggers, o)
		}
	}
	restoreLiveTriggers := func() {
		if err := e.recreate(context.WithoutCancel(ctx), conn, live, liveTriggers); err != nil {
			e.log.Error("could not put live's triggers back after a failed swap", "error", err)
		}
	}
	for _, o := range liveTriggers {
		if err := e.ddlUntil(stop, ctx, conn, "DROP TRIGGER IF EXISTS "+quoteName(live)+"."+quoteName(o.name)); err != nil {
			restoreLiveTriggers()
			return fmt.Errorf("mysql: dropping trigger %s in live: %w", o.name, err)
		}
	}

	// A live view in the way of a new table cannot stay.
	for _, t := range newTables {
		if liveViews[t] {
			if err := e.ddlUntil(stop, ctx, conn, "DROP VIEW IF EXISTS "+quoteName(live)+"."+quoteName(t)); err != nil {
				restoreLiveTriggers()
				return fmt.Errorf("mysql: dropping view %s in live: %w", t, err)
			}
		}
	}

	var pairs []string
	for _, t := range oldTables {
		pairs = append(pairs, quoteName(live)+"."+quoteName(t)+" TO "+quoteName(old)+"."+quoteName(t))
	}
	for _, t := range newTables {
		pairs = append(pairs, quoteName(shadow)+"."+quoteName(t)+" TO "+quoteName(live)+"."+quoteName(t))
	}
	// The RENAME is the point of no return: a stop is heeded between its
	// lock-wait attempts (each at most lockWait), and once it has run the
	// swap runs to its end (a swap left after the RENAME would leave live
	// with the new tables but without their triggers and views).
	if len(pairs) > 0 {
		if err := e.ddlUntil(stop, ctx, conn, "RENAME TABLE "+strings.Join(pairs, ", ")); err != nil {
			restoreLiveTriggers()
			return fmt.Errorf("mysql: swapping the shadow into %s (live untouched): %w", live, err)
		}
	}
	renamed = true
	e.log.Info("swapped the shadow schema into live", "tables", len(newTables), "replaced", len(oldTables))
	testpause.At("mid-swap")

	// Live now holds the new tables. Recreate what RENAME TABLE does not
	// move: triggers, views, routines, events. A routine or event already
	// in live as defined in the dump is left alone, never missing a moment.
	same := map[string]bool{}
	for _, o := range oldObjects {
		if o.kind != "TRIGGER" && o.kind != "VIEW" {
			same[o.kind+" "+o.name+"\x00"+o.sqlMode+"\x00"+o.create] = true
		}
	}
	var changed []object
	for _, o := range newObjects {
		if !same[o.kind+" "+o.name+"\x00"+o.sqlMode+"\x00"+o.create] {
			changed = append(changed, o)
		}
	}
	if err := e.recreate(ctx, conn, live, changed); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, o := range newObjects {
		keep[o.kind+" "+o.name] = true
	}
	for _, o := range oldObjects {
		if o.kind == "TRIGGER" || keep[o.kind+" "+o.name] {
			continue
		}
		if o.kind == "VIEW" && contains(newTables, o.name) {
			continue // dropped before the rename
		}
		if err := e.ddl(ctx, conn, "DROP "+o.kind+" IF EXISTS "+quoteName(live)+"."+quoteName(o.name)); err != nil {
			return fmt.Errorf("mysql: dropping %s %s, gone from the dump: %w", strings.ToLower(o.kind), o.name, err)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Lock waits of the swap: a long transaction on live holds a statement
// back, and new queries queue behind the waiting statement; give up
// quickly and retry.
const (
	lockWait     = 1 // seconds, MySQL's unit
	lockAttempts = 60
)

// ddl runs a statement that locks live's tables, retrying lock waits.
func (e *Engine) ddl(ctx context.Context, conn *sql.Conn, q string) error {
	return e.ddlUntil(ctx, ctx, conn, q)
}

// ddlUntil is ddl with each attempt run under run and the retries stopped
// by stop.
func (e *Engine) ddlUntil(stop, run context.Context, conn *sql.Conn, q string) error {
	ctx := stop
	var err error
	for attempt := 1; attempt <= lockAttempts; attempt++ {
		if err := stop.Err(); err != nil {
			return err
		}
		_, err = conn.ExecContext(run, q)
		var me *mysql.MySQLError
		if err == nil || !errors.As(err, &me) || (me.Number != 1205 && me.Number != 1213) {
			return err
		}
		e.log.Warn("live tables busy, retrying", "attempt", attempt, "statement", truncate(q, 80), "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(min(attempt, 10)) * 50 * time.Millisecond):
		}
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func names(ctx context.Context, conn *sql.Conn, q string, args ...any) ([]string, error) {
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("mysql: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// objects reads the definitions of schema's triggers, views, routines and
// events, with the schema as the session's default so that SHOW CREATE
// leaves same-schema names unqualified.
func objects(ctx context.Context, conn *sql.Conn, schema string) ([]object, error) {
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", schema).Scan(&n); err != nil || n == 0 {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "USE "+quoteName(schema)); err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	lists := []struct{ kind, q string }{
		{"TRIGGER", "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER"},
		{"VIEW", "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME"},
		{"FUNCTION", "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'FUNCTION' ORDER BY ROUTINE_NAME"},
		{"PROCEDURE", "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'PROCEDURE' ORDER BY ROUTINE_NAME"},
		{"EVENT", "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME"},
	}
	var out []object
	for _, l := range lists {
		ns, err := names(ctx, conn, l.q, schema)
		if err != nil {
			return nil, err
		}
		for _, name := range ns {
			o, err := showCreate(ctx, conn, l.kind, name)
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// showCreate reads one SHOW CREATE result; its columns differ by kind.
func showCreate(ctx context.Context, conn *sql.Conn, kind, name string) (object, error) {
	rows, err := conn.QueryContext(ctx, "SHOW CREATE "+kind+" "+quoteName(name))
	if err != nil {
		return object{}, fmt.Errorf("mysql: SHOW CREATE %s %s: %w", kind, name, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return object{}, err
	}
	if !rows.Next() {
		return object{}, fmt.Errorf("mysql: SHOW CREATE %s %s: no result", kind, name)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return object{}, err
	}
	o := object{kind: kind, name: name}
	for i, c := range cols {
		v := vals[i].String
		switch strings.ToLower(c) {
		case "create view", "sql original statement", "create function", "create procedure", "create event":
			o.create = string(stripDefiner([]byte(v)))
		case "sql_mode":
			o.sqlMode = v
		case "character_set_client":
			o.charset = v
		case "collation_connection":
			o.collation = v
		}
	}
	if o.create == "" {
		return object{}, fmt.Errorf("mysql: SHOW CREATE %s %s: no definition (missing SHOW VIEW or routine privileges?)", kind, name)
	}
	return o, rows.Err()
}

// recreate creates objs in schema with the session settings each was
// defined under. A view may depend on a view created after it: views are
// retried until no more can be created.
func (e *Engine) recreate(ctx context.Context, conn *sql.Conn, schema string, objs []object) error {
	if len(objs) == 0 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "USE "+quoteName(schema)); err != nil {
		return fmt.Errorf("mysql: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SET SESSION sql_mode = DEFAULT")
	pending := objs
	for len(pending) > 0 {
		var failed []object
		var lastErr error
		for _, o := range pending {
			if err := e.createObject(ctx, conn, schema, o); err != nil {
				failed = append(failed, o)
				lastErr = fmt.Errorf("mysql: recreating %s %s in %s: %w", strings.ToLower(o.kind), o.name, schema, err)
			}
		}
		if len(failed) == len(pending) {
			return lastErr
		}
		pending = failed
	}
	return nil
}

func (e *Engine) createObject(ctx context.Context, conn *sql.Conn, schema string, o object) error {
	var stmts []string
	if o.sqlMode != "" || o.kind != "VIEW" {
		stmts = append(stmts, "SET SESSION sql_mode = '"+strings.ReplaceAll(o.sqlMode, "'", "''")+"'")
	}
	if o.charset != "" {
		s := "SET NAMES " + o.charset
		if o.collation != "" {
			s = "SET character_set_client = " + o.charset + ", collation_connection = " + o.collation
		}
		stmts = append(stmts, s)
	}
	create := o.create
	switch o.kind {
	case "VIEW":
		// Replace in place: the old view stays readable until this instant.
		create = "CREATE OR REPLACE " + strings.TrimPrefix(strings.TrimSpace(create), "CREATE ")
	case "TRIGGER":
		stmts = append(stmts, "DROP TRIGGER IF EXISTS "+quoteName(schema)+"."+quoteName(o.name))
	default:
		stmts = append(stmts, "DROP "+o.kind+" IF EXISTS "+quoteName(schema)+"."+quoteName(o.name))
	}
	stmts = append(stmts, create, "SET NAMES utf8mb4")
	for _, s := range stmts {
		if err := e.ddl(ctx, conn, s); err != nil {
			return err
		}
	}
	return nil
}

// restoreLock takes the server-wide named lock of live's restore on a
// session of its own, held until unlock; an error when another run holds it.
func (e *Engine) restoreLock(ctx context.Context, db *sql.DB, live string) (unlock func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	// Named locks are at most 64 characters: a long schema name is hashed.
	name := "envsync restore " + live
	if len(name) > 64 {
		name = fmt.Sprintf("envsync restore %x", sha256.Sum256([]byte(live)))[:64]
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mysql: taking the restore lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		conn.Close()
		return nil, fmt.Errorf("mysql: another restore of %s is running", live)
	}
	return func() {
		conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", name)
		conn.Close()
	}, nil
}
