package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/postgres/pgscript"
	"github.com/envsync/envsync/runner/engine/testpause"
)

// Suffixes of the databases a restore works with beside the live one.
const (
	shadowSuffix = "_envsync_shadow"
	oldSuffix    = "_envsync_old"
	// maxIdentifier is PostgreSQL's NAMEDATALEN-1: longer names are cut.
	maxIdentifier = 63
)

// sideName is live's shadow or old name, shortened with a hash of live when
// it would pass the identifier limit, so that two long names never collide.
func sideName(live, suffix string) string {
	if len(live)+len(suffix) <= maxIdentifier {
		return live + suffix
	}
	sum := sha256.Sum256([]byte(live))
	tag := "_" + hex.EncodeToString(sum[:4])
	keep := maxIdentifier - len(suffix) - len(tag)
	// Cut on a UTF-8 boundary.
	for keep > 0 && live[keep]&0xC0 == 0x80 {
		keep--
	}
	return live[:keep] + tag + suffix
}

// swapAttempts bounds the retries of the swap while clients reconnect.
const swapAttempts = 10

// Restore loads the dump into <db>_envsync_shadow, gives its objects to the
// owner role, runs the sanitise script there, and renames live to
// <db>_envsync_old and the shadow to live in one transaction. Until that
// transaction commits, live is the old copy; from then on, the new one.
func (e *Engine) Restore(ctx context.Context, r io.Reader, opts engine.RestoreOptions) error {
	// Refuse what is plainly not a custom-format dump before any database
	// is touched.
	br, err := peekMagic(r)
	if err != nil {
		return err
	}
	// LoadSessions: 0 has pg_restore load the shadow itself (where the
	// server shares the runner's cores, sessions contend more than they
	// bring); N runs pg_restore's script with pgscript, each table's rows
	// spread over N sessions, which pg_restore cannot do from a pipe.
	n := e.cfg.LoadSessions
	if n < 0 || n > engine.MaxLoadSessions {
		return fmt.Errorf("postgres: %d load sessions: want 0 to %d", n, engine.MaxLoadSessions)
	}
	if n > 0 {
		return e.restore(ctx, opts, func(shadow string) error {
			return e.loadScript(ctx, br, shadow, n)
		})
	}
	return e.restore(ctx, opts, func(shadow string) error {
		cmd, err := e.pgRestore(ctx, "--exit-on-error", "--dbname="+conninfoDB(shadow))
		if err != nil {
			return err
		}
		return e.feed(cmd, "pg_restore", br, "restore")
	})
}

// RestoreFile is Restore reading the dump from f, a seekable local file (it
// may be unlinked already): `pg_restore --jobs` then loads tables and builds
// indexes on several connections at once, which it cannot do from a pipe.
func (e *Engine) RestoreFile(ctx context.Context, f *os.File, opts engine.RestoreOptions) error {
	head := make([]byte, len(magic))
	if _, err := f.ReadAt(head, 0); err != nil || string(head) != magic {
		return fmt.Errorf("postgres: the local copy is not a pg_dump custom-format archive (it starts with %q, not %q)", printable(head), magic)
	}
	// Beyond a few connections the server's cores and disks, not the
	// client, are the limit; each connection may take maintenance_work_mem.
	jobs := min(max(2, runtime.NumCPU()), 4)
	return e.restore(ctx, opts, func(shadow string) error {
		cmd, err := e.pgRestore(ctx, "--exit-on-error", "--dbname="+conninfoDB(shadow), fmt.Sprintf("--jobs=%d", jobs), "/dev/fd/3")
		if err != nil {
			return err
		}
		// The child and each of its workers reopen the file by its
		// descriptor, so it needs no name in the filesystem.
		cmd.ExtraFiles = []*os.File{f}
		stderr := &tailBuffer{max: 16 << 10}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("postgres: starting pg_restore: %w", err)
		}
		testpause.At("restore")
		return e.result("pg_restore", cmd.Wait(), stderr)
	})
}

// sessionSettings are the loading sessions': pg_restore commits once per
// object and the load once per table and session; waiting for each WAL
// flush buys nothing for a shadow that a crash leaves to be dropped, and
// the swap's own commit flushes everything written before it.
// maintenance_work_mem is left to the server: 256MB, which sorts a few
// million keys in memory, built the benchmark's primary key 1.6 times
// slower than the default 64MB, which merges sorted runs (go test -bench
// PrimaryKeyBuildMemory ./runner/engine/postgres/).
var sessionSettings = map[string]string{"synchronous_commit": "off"}

// pgRestore prepares pg_restore with the options every restore uses.
func (e *Engine) pgRestore(ctx context.Context, args ...string) (*exec.Cmd, error) {
	bin, err := tool("pg_restore")
	if err != nil {
		return nil, err
	}
	cmd := e.command(ctx, bin, "", append([]string{"--no-owner", "--no-acl", "--no-password"}, args...)...)
	var opts []string
	for _, k := range slices.Sorted(maps.Keys(sessionSettings)) {
		opts = append(opts, "-c "+k+"="+sessionSettings[k])
	}
	cmd.Env = append(cmd.Env, "PGOPTIONS="+strings.Join(opts, " "))
	return cmd, nil
}

// loadScript streams the dump through `pg_restore --file=-`, whose script
// pgscript runs on n sessions of the shadow.
func (e *Engine) loadScript(ctx context.Context, dump io.Reader, shadow string, n int) error {
	sessions := make([]*pgconn.PgConn, 0, n)
	defer func() {
		for _, s := range sessions {
			s.Close(context.Background())
		}
	}()
	for range n {
		c, err := e.connectWith(ctx, shadow, sessionSettings)
		if err != nil {
			return err
		}
		sessions = append(sessions, c.PgConn())
	}
	// pg_restore is stopped as soon as the script fails, and the script
	// ends when pg_restore does.
	toolCtx, stopTool := context.WithCancel(ctx)
	defer stopTool()
	cmd, err := e.pgRestore(toolCtx, "--file=-")
	if err != nil {
		return err
	}
	script, scriptOut, err := os.Pipe()
	if err != nil {
		return err
	}
	defer script.Close()
	cmd.Stdout = scriptOut
	ran := make(chan error, 1)
	go func() {
		err := pgscript.Run(ctx, script, sessions)
		if err != nil {
			stopTool()
		}
		ran <- err
	}()
	toolErr := e.feed(cmd, "pg_restore", dump, "restore")
	scriptOut.Close()
	scriptErr := <-ran
	switch {
	case scriptErr != nil && (toolErr == nil || !errors.Is(scriptErr, io.ErrUnexpectedEOF)):
		// The script failed first; pg_restore was stopped for it.
		return fmt.Errorf("postgres: restoring into the shadow: %s", e.redact(scriptErr.Error()))
	case toolErr != nil:
		return toolErr
	}
	return nil
}

// restore is Restore around load, which fills the shadow database.
func (e *Engine) restore(ctx context.Context, opts engine.RestoreOptions, load func(shadow string) error) error {
	live := e.cfg.Database
	shadow, old := sideName(live, shadowSuffix), sideName(live, oldSuffix)
	// Every load runs pg_restore: missing, it fails before any database
	// is touched.
	if _, err := tool("pg_restore"); err != nil {
		return err
	}

	mc, err := e.connect(ctx, maintenanceDB(live))
	if err != nil {
		return err
	}
	defer mc.Close(context.Background())

	// One restore of a database at a time: a second one would drop the
	// first one's shadow. The lock goes with the session, so a killed run
	// does not hold it.
	var locked bool
	if err := mc.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext($1))", "envsync restore "+live).Scan(&locked); err != nil {
		return fmt.Errorf("postgres: taking the restore lock: %w", err)
	}
	if !locked {
		return fmt.Errorf("postgres: another restore of %q is running", live)
	}
	owner := e.cfg.Owner
	if owner == "" {
		owner = e.cfg.User
	}
	var ownerExists bool
	if err := mc.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", owner).Scan(&ownerExists); err != nil {
		return fmt.Errorf("postgres: looking up the owner role: %w", err)
	}
	if !ownerExists {
		return fmt.Errorf("postgres: the owner role %q (DB_OWNER) does not exist", owner)
	}

	if err := e.repair(ctx, mc, live, shadow, old); err != nil {
		return err
	}

	e.log().Info("creating the shadow database", "shadow", shadow)
	locale, err := localeOf(ctx, mc, live)
	if err != nil {
		return err
	}
	if _, err := mc.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE template0 OWNER %s%s",
		ident(shadow), ident(owner), locale)); err != nil {
		return fmt.Errorf("postgres: creating the shadow database %q: %w", shadow, err)
	}
	swapped := false
	defer func() {
		if swapped {
			return
		}
		// Best effort: the next run drops it anyway.
		err := e.cleanup(mc, func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(shadow)+" WITH (FORCE)")
			return err
		})
		if err != nil {
			e.log().Warn("could not drop the shadow database; the next run will", "shadow", shadow, "error", err)
		}
	}()

	e.log().Info("restoring into the shadow database", "shadow", shadow)
	started := time.Now()
	if err := load(shadow); err != nil {
		return err
	}
	e.log().Info("restored into the shadow database", "shadow", shadow, "seconds", time.Since(started).Seconds())

	if err := e.prepareShadow(ctx, shadow, owner, opts); err != nil {
		return err
	}
	// Last, as they may refuse connections to the shadow (ours included).
	if err := copyDatabaseProperties(ctx, mc, live, shadow); err != nil {
		return err
	}
	if opts.BeforeSwap != nil {
		if err := opts.BeforeSwap(); err != nil {
			return fmt.Errorf("postgres: not swapping, live %q is unchanged: %w", live, err)
		}
	}
	if err := e.swap(ctx, mc, live, shadow, old); err != nil {
		return err
	}
	swapped = true

	if _, err := mc.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(old)+" WITH (FORCE)"); err != nil {
		// Live is complete and new; the next run drops the old copy.
		e.log().Warn("could not drop the old copy; the next run will", "old", old, "error", err)
	}
	return nil
}

// prepareShadow checks the loaded shadow's rows against the backup's, runs
// the sanitise script and its gate there, and hands what the restore
// created to the owner role.
func (e *Engine) prepareShadow(ctx context.Context, shadow, owner string, opts engine.RestoreOptions) error {
	sanitise, g := opts.SanitiseScript, opts.Gate
	conn, err := e.connect(ctx, shadow)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if len(opts.Rows) > 0 {
		count := func(ctx context.Context, table string) (int64, error) { return countRows(ctx, conn, table) }
		if err := engine.CheckRows(ctx, opts.Rows, count); err != nil {
			return fmt.Errorf("postgres: live %q is unchanged: %w", e.cfg.Database, err)
		}
		e.log().Info("the loaded shadow holds every row the backup dumped", "tables", len(opts.Rows))
	}
	if g != nil {
		if err := g.Before(ctx, gateDB{conn}); err != nil {
			return fmt.Errorf("postgres: live %q is unchanged: %w", e.cfg.Database, err)
		}
	}
	if sanitise != "" {
		e.log().Info("running the sanitise script on the shadow database", "shadow", shadow)
		if err := runScript(ctx, conn, sanitise, "sanitise"); err != nil {
			return fmt.Errorf("postgres: sanitising the shadow, live %q is unchanged: %w", e.cfg.Database, err)
		}
	}
	if g != nil {
		started := time.Now()
		if err := g.After(ctx, gateDB{conn}); err != nil {
			return fmt.Errorf("postgres: live %q is unchanged: %w", e.cfg.Database, err)
		}
		e.log().Info("personal-data gate passed", "columns_checked", g.Checked, "findings", g.Findings, "seconds", time.Since(started).Seconds())
	}
	if owner != e.cfg.User {
		if _, err := conn.Exec(ctx, reassignSQL(owner)); err != nil {
			return fmt.Errorf("postgres: giving the restored objects to %q: %w", owner, err)
		}
	}
	return nil
}

// repair undoes what a killed run left: a live database refusing
// connections, a shadow, an old copy. If live is missing while an old copy
// exists (no swap of ours leaves that), the old copy is put back as live
// rather than dropped.
func (e *Engine) repair(ctx context.Context, mc *pgx.Conn, live, shadow, old string) error {
	liveExists, liveAllows, err := dbState(ctx, mc, live)
	if err != nil {
		return err
	}
	oldExists, _, err := dbState(ctx, mc, old)
	if err != nil {
		return err
	}
	if !liveExists && oldExists {
		e.log().Warn("live database missing while an old copy exists: putting the old copy back", "old", old)
		if _, err := mc.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", ident(old), ident(live))); err != nil {
			return fmt.Errorf("postgres: putting %q back as %q: %w", old, live, err)
		}
		liveExists, oldExists = true, false
		liveAllows = false
	}
	if liveExists && !liveAllows {
		e.log().Warn("live database refuses connections (left by a killed restore): allowing them again")
		if err := allowConnections(ctx, mc, live); err != nil {
			return err
		}
	}
	for _, name := range []string{shadow, old} {
		exists, _, err := dbState(ctx, mc, name)
		if err != nil {
			return err
		}
		if exists {
			e.log().Warn("dropping a database left by a killed restore", "name", name)
			if _, err := mc.Exec(ctx, "DROP DATABASE "+ident(name)+" WITH (FORCE)"); err != nil {
				return fmt.Errorf("postgres: dropping %q left by a killed restore: %w", name, err)
			}
		}
	}
	return nil
}

// swap makes the shadow live. ALTER DATABASE ... RENAME runs inside a
// transaction block, so both renames commit together or not at all. A
// rename fails while sessions are connected; new connections are refused
// first, sessions terminated, and the whole retried with backoff for the
// clients that were already half-way through connecting.
func (e *Engine) swap(ctx context.Context, mc *pgx.Conn, live, shadow, old string) error {
	liveExists, _, err := dbState(ctx, mc, live)
	if err != nil {
		return err
	}
	if !liveExists {
		e.log().Info("live database does not exist yet: the shadow becomes live")
		if _, err := mc.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", ident(shadow), ident(live))); err != nil {
			return fmt.Errorf("postgres: renaming the shadow to %q: %w", live, err)
		}
		return nil
	}
	defer func() {
		// On every path: after a swap this is the new live (already
		// allowing connections); otherwise the old one, which must.
		err := e.cleanup(mc, func(ctx context.Context, c *pgx.Conn) error { return allowConnections(ctx, c, live) })
		if err != nil {
			e.log().Error("could not allow connections to the live database again; the next run will", "error", err)
		}
	}()
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if _, err := mc.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS false", ident(live))); err != nil {
			return fmt.Errorf("postgres: refusing new connections to %q: %w", live, err)
		}
		var terminated int
		if err := mc.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid()`, live).Scan(&terminated); err != nil {
			return fmt.Errorf("postgres: terminating the sessions on %q: %w", live, err)
		}
		testpause.At("swap")
		if err := ctx.Err(); err != nil {
			return err
		}
		// The two renames are never cancelled half-way: a COMMIT cut off by
		// closing the connection may still complete on the server, and the
		// run would not know which copy is live. They wait on nothing (a
		// session in the way fails them at once), so this takes no time.
		finish := context.WithoutCancel(ctx)
		err := pgx.BeginFunc(finish, mc, func(tx pgx.Tx) error {
			if _, err := tx.Exec(finish, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", ident(live), ident(old))); err != nil {
				return err
			}
			_, err := tx.Exec(finish, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", ident(shadow), ident(live)))
			return err
		})
		if err == nil {
			e.log().Info("swapped the shadow in as the live database", "attempt", attempt, "sessions_terminated", terminated)
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" || attempt == swapAttempts {
			return fmt.Errorf("postgres: swapping the shadow in as %q (attempt %d): %w", live, attempt, err)
		}
		e.log().Info("sessions still connected to the live database, retrying the swap", "attempt", attempt, "wait", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 3*time.Second)
	}
}

func allowConnections(ctx context.Context, mc *pgx.Conn, name string) error {
	exists, allows, err := dbState(ctx, mc, name)
	if err != nil || !exists || allows {
		return err
	}
	if _, err := mc.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS true", ident(name))); err != nil {
		return fmt.Errorf("postgres: allowing connections to %q again: %w", name, err)
	}
	return nil
}

func dbState(ctx context.Context, mc *pgx.Conn, name string) (exists, allowsConnections bool, err error) {
	err = mc.QueryRow(ctx, "SELECT datallowconn FROM pg_database WHERE datname = $1", name).Scan(&allowsConnections)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("postgres: looking up database %q: %w", name, err)
	}
	return true, allowsConnections, nil
}

// cleanup runs fn on the maintenance session, or on a new one when that
// session died with the operation's context (pgx closes a session whose
// query is cancelled): a cancelled restore still re-enables connections.
func (e *Engine) cleanup(mc *pgx.Conn, fn func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if mc.IsClosed() {
		c, err := e.connect(ctx, maintenanceDB(e.cfg.Database))
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		mc = c
	}
	return fn(ctx, mc)
}

// maintenanceDB is where the restore connects to create, rename and drop:
// never the database being renamed.
func maintenanceDB(live string) string {
	if live == "postgres" {
		return "template1"
	}
	return "postgres"
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// conninfoDB is a libpq connection string naming only the database, so that
// a name holding "=" is not read as a connection string.
func conninfoDB(name string) string {
	q := ""
	for _, r := range name {
		if r == '\'' || r == '\\' {
			q += `\`
		}
		q += string(r)
	}
	return "dbname='" + q + "'"
}

// reassignSQL gives the objects that the restore created as the runner's
// user to owner, one ALTER per object. REASSIGN OWNED would also hand over
// every other database that user owns, cluster-wide. Objects of extensions
// and sequences owned by a column (they follow their table) are left alone.
func reassignSQL(owner string) string {
	return fmt.Sprintf(`DO $envsync$
DECLARE
	r record;
	me oid := (SELECT oid FROM pg_roles WHERE rolname = current_user);
	owner text := %s;
BEGIN
	FOR r IN SELECT n.nspname FROM pg_namespace n
		WHERE n.nspowner = me AND n.nspname NOT LIKE 'pg\_%%' AND n.nspname <> 'information_schema'
		AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
	LOOP
		EXECUTE format('ALTER SCHEMA %%I OWNER TO %%I', r.nspname, owner);
	END LOOP;
	FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relowner = me AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
		AND n.nspname NOT LIKE 'pg\_%%' AND n.nspname <> 'information_schema'
		AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
			AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
	LOOP
		EXECUTE format('ALTER %%s %%s OWNER TO %%I',
			CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
				WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.rel, owner);
	END LOOP;
	FOR r IN SELECT p.oid::regprocedure AS fn, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE p.proowner = me AND n.nspname NOT LIKE 'pg\_%%' AND n.nspname <> 'information_schema'
		AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
	LOOP
		EXECUTE format('ALTER %%s %%s OWNER TO %%I', CASE r.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, r.fn, owner);
	END LOOP;
	FOR r IN SELECT t.oid::regtype AS typ FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE t.typowner = me AND t.typtype IN ('b', 'd', 'e', 'r')
		AND n.nspname NOT LIKE 'pg\_%%' AND n.nspname <> 'information_schema'
		AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
		AND NOT (t.typcategory = 'A')
	LOOP
		EXECUTE format('ALTER TYPE %%s OWNER TO %%I', r.typ, owner);
	END LOOP;
	FOR r IN SELECT t.oid::regtype AS typ FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		JOIN pg_class c ON c.oid = t.typrelid
		WHERE t.typowner = me AND t.typtype = 'c' AND c.relkind = 'c'
		AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
	LOOP
		EXECUTE format('ALTER TYPE %%s OWNER TO %%I', r.typ, owner);
	END LOOP;
END
$envsync$`, quoteLiteral(owner))
}

func quoteLiteral(s string) string {
	out := "'"
	for _, r := range s {
		if r == '\'' {
			out += "'"
		}
		out += string(r)
	}
	return out + "'"
}
