package testenv

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgInstallHint is how to get the PostgreSQL server binaries.
const pgInstallHint = "apt-get install postgresql"

// pgDirs is where Debian puts the server binaries, outside PATH.
const pgDirs = "/usr/lib/postgresql/*/bin"

// Postgres is a PostgreSQL server started for a test: its own data
// directory, a loopback port, a superuser with a scram password (so the
// password path of every client is exercised), fsync off.
type Postgres struct {
	Host     string
	Port     int
	User     string
	Password string
	// BinDir holds the server's own client tools (pg_dump, pg_restore, psql).
	BinDir string
	Dir    string
	proc   *Process
}

// PostgresOptions change how a test server is started.
type PostgresOptions struct {
	// TLS, when set, turns ssl on with this certificate and logs every
	// connection with its protection (ConnectionLog).
	TLS *ServerCert
	// RequireTLS accepts TCP sessions over TLS only (pg_hba hostssl), as RDS
	// does with rds.force_ssl.
	RequireTLS bool
	// LogWrites logs every statement that writes (log_statement=mod) and
	// every session's start, for WriteLog.
	LogWrites bool
}

// StartPostgres initialises and starts a server, stopped when the test ends.
func StartPostgres(t T) *Postgres { return StartPostgresWith(t, PostgresOptions{}) }

// StartPostgresWith starts a server with opts.
func StartPostgresWith(t T, opts PostgresOptions) *Postgres {
	t.Helper()
	initdb := LookPath(t, "initdb", pgInstallHint, pgDirs)
	// /usr/local/bin may hold links to the server's directory: the client
	// tools of the same version live beside the real binary.
	if real, err := filepath.EvalSymlinks(initdb); err == nil {
		initdb = real
	}
	bin := filepath.Dir(initdb)
	postgres := LookPath(t, "postgres", pgInstallHint, bin, pgDirs)
	cred := Unprivileged(t)
	dir := TempDir(t, cred)
	pg := &Postgres{
		Host:     "127.0.0.1",
		Port:     FreePort(t),
		User:     "envsync_admin",
		Password: "pw-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":s3cr3t'\\x",
		BinDir:   bin,
		Dir:      dir,
	}
	pwfile := filepath.Join(dir, "pwfile")
	mustf(t, os.WriteFile(pwfile, []byte(pg.Password+"\n"), 0o600), "writing the password file")
	Chown(t, pwfile, cred)
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "--pgdata="+data, "--username="+pg.User, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	os.Remove(pwfile)
	var extra []string
	if opts.TLS != nil {
		extra = pg.enableTLS(t, data, cred, opts)
	}
	if opts.LogWrites {
		extra = append(extra, "-c", "log_statement=mod", "-c", "log_line_prefix=%m [%p] %a ")
	}
	cmd = exec.Command(postgres, append([]string{"-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(pg.Port),
		"-c", "unix_socket_directories=" + dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=100",
		"-c", "log_min_messages=warning",
	}, extra...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = dir
	pg.proc = Start(t, "postgres", cmd)
	WaitTCP(t, pg.proc, pg.Addr(), 30*time.Second)
	// Accepting TCP is not accepting sessions yet (startup, recovery).
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := pgx.Connect(context.Background(), pg.DSN("postgres"))
		if err == nil {
			c.Close(context.Background())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: postgres not accepting sessions: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pg
}

// enableTLS installs the certificate in the data directory (the server
// wants its key private and its own) and returns the server's settings.
func (pg *Postgres) enableTLS(t T, data string, cred *syscall.Credential, opts PostgresOptions) []string {
	t.Helper()
	for src, dst := range map[string]string{opts.TLS.CertFile: "server.crt", opts.TLS.KeyFile: "server.key"} {
		b, err := os.ReadFile(src)
		mustf(t, err, "reading %s", src)
		p := filepath.Join(data, dst)
		mustf(t, os.WriteFile(p, b, 0o600), "writing %s", p)
		Chown(t, p, cred)
	}
	if opts.RequireTLS {
		hba := "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n"
		mustf(t, os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600), "writing pg_hba.conf")
	}
	return []string{"-c", "ssl=on", "-c", "log_connections=on"}
}

// WriteLog returns the server log's lines of statements that wrote or could
// have written (log_statement=mod: data changes and DDL) by sessions whose
// application_name is app; the server must be started with LogWrites.
func (pg *Postgres) WriteLog(t T, app string) []string {
	t.Helper()
	b, err := os.ReadFile(pg.proc.Log)
	mustf(t, err, "reading the server log")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "] "+app+" ") && strings.Contains(l, "statement: ") {
			out = append(out, l)
		}
	}
	return out
}

// ConnectionLog returns the server log's "connection authorized" lines of
// sessions whose application_name is app: each says "SSL enabled
// (protocol=…)" or not, so a test sees how every session of a run, the
// client tools' included, was protected.
func (pg *Postgres) ConnectionLog(t T, app string) []string {
	t.Helper()
	b, err := os.ReadFile(pg.proc.Log)
	mustf(t, err, "reading the server log")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "connection authorized") && strings.Contains(l, "application_name="+app+" ") || strings.HasSuffix(l, "application_name="+app) {
			out = append(out, l)
		}
	}
	return out
}

// Addr is host:port.
func (pg *Postgres) Addr() string { return fmt.Sprintf("%s:%d", pg.Host, pg.Port) }

// Stop stops the server now (it is also stopped when the test ends).
func (pg *Postgres) Stop() { pg.proc.Stop() }

// DSN is a pgx/libpq URL for database, password included: for the test's
// own connections only.
func (pg *Postgres) DSN(database string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=prefer&application_name=envsync-test",
		pg.User, urlEscape(pg.Password), pg.Addr(), urlEscape(database))
}

func urlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Env is the environment for a client tool (pg_dump, psql) run by a test:
// the connection in PG* variables, the password in PGPASSWORD.
func (pg *Postgres) Env(database string) []string {
	return append(os.Environ(),
		"PGHOST="+pg.Host, "PGPORT="+strconv.Itoa(pg.Port), "PGUSER="+pg.User,
		"PGPASSWORD="+pg.Password, "PGDATABASE="+database)
}

// Tool is the path of one of the server's client tools.
func (pg *Postgres) Tool(name string) string { return filepath.Join(pg.BinDir, name) }

// Connect opens a session on database, closed when the test ends.
func (pg *Postgres) Connect(t T, database string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), pg.DSN(database))
	mustf(t, err, "connecting to %s", database)
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// Exec runs sql (several statements allowed) on database.
func (pg *Postgres) Exec(t T, database, sql string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), pg.DSN(database))
	mustf(t, err, "connecting to %s", database)
	defer c.Close(context.Background())
	_, err = c.Exec(context.Background(), sql)
	mustf(t, err, "running SQL on %s", database)
}

// CreatePGBench creates database with pgbench's tables at scale (100,000
// accounts, about 15 MiB a unit with indexes), for the benchmarks.
func (pg *Postgres) CreatePGBench(t T, database string, scale int) {
	t.Helper()
	pg.Exec(t, "postgres", "CREATE DATABASE "+database)
	cmd := exec.Command(pg.Tool("pgbench"), "-i", "-q", "-s", strconv.Itoa(scale))
	cmd.Env = pg.Env(database)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: pgbench -i: %v\n%s", err, out)
	}
}

// Databases lists the databases other than the templates and postgres.
func (pg *Postgres) Databases(t T) []string {
	t.Helper()
	c := pg.Connect(t, "postgres")
	rows, err := c.Query(context.Background(),
		"SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY datname")
	mustf(t, err, "listing databases")
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	mustf(t, err, "listing databases")
	return names
}

// AllowsConnections reports pg_database.datallowconn of database.
func (pg *Postgres) AllowsConnections(t T, database string) bool {
	t.Helper()
	c := pg.Connect(t, "postgres")
	var allow bool
	err := c.QueryRow(context.Background(), "SELECT datallowconn FROM pg_database WHERE datname = $1", database).Scan(&allow)
	mustf(t, err, "looking up %s", database)
	return allow
}

// Snapshot describes a database's contents: per table (schema.table), its
// row count and the md5 of all its rows in order, and the definition of
// every column, so that two databases compare with ==-style equality.
type Snapshot struct {
	Tables  map[string]TableSum
	Columns []string // "schema.table.column type"
}

// TableSum is one table's row count and contents checksum.
type TableSum struct {
	Rows int64
	MD5  string
}

// Snapshot reads database's schema and the checksum of every table.
func (pg *Postgres) Snapshot(t T, database string) Snapshot {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pg.DSN(database))
	mustf(t, err, "connecting to %s", database)
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT table_schema || '.' || table_name || '.' || column_name || ' ' || data_type
		FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
		ORDER BY table_schema, table_name, ordinal_position`)
	mustf(t, err, "reading columns of %s", database)
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	mustf(t, err, "reading columns of %s", database)
	rows, err = c.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	mustf(t, err, "listing tables of %s", database)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	mustf(t, err, "listing tables of %s", database)
	s := Snapshot{Tables: map[string]TableSum{}, Columns: cols}
	for _, tb := range tables {
		var sum TableSum
		err := c.QueryRow(ctx, fmt.Sprintf(
			`SELECT count(*), coalesce(md5(string_agg(r::text, E'\n' ORDER BY r::text)), '') FROM %s r`, tb)).Scan(&sum.Rows, &sum.MD5)
		mustf(t, err, "checksumming %s in %s", tb, database)
		s.Tables[tb] = sum
	}
	return s
}

// Equal reports whether two snapshots hold the same schema and contents,
// and the first difference.
func (s Snapshot) Equal(o Snapshot) (bool, string) {
	if strings.Join(s.Columns, "\n") != strings.Join(o.Columns, "\n") {
		return false, fmt.Sprintf("columns differ:\n%v\nvs\n%v", s.Columns, o.Columns)
	}
	names := make([]string, 0, len(s.Tables))
	for n := range s.Tables {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(s.Tables) != len(o.Tables) {
		return false, fmt.Sprintf("%d tables vs %d", len(s.Tables), len(o.Tables))
	}
	for _, n := range names {
		if s.Tables[n] != o.Tables[n] {
			return false, fmt.Sprintf("table %s: %+v vs %+v", n, s.Tables[n], o.Tables[n])
		}
	}
	return true, ""
}

// WatchDatabases records every database (templates and postgres aside)
// that exists, even for a moment, until stop is called: a test sees a
// shadow that a restore created and dropped again.
func (pg *Postgres) WatchDatabases(t T) (stop func() []string) {
	t.Helper()
	c := pg.Connect(t, "postgres")
	seen := map[string]bool{}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			rows, err := c.Query(context.Background(), "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'")
			if err == nil {
				names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
				for _, n := range names {
					seen[n] = true
				}
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() []string {
		close(done)
		<-stopped
		names := slices.Collect(maps.Keys(seen))
		slices.Sort(names)
		return names
	}
}
