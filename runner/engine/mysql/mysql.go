// Package mysql is the MySQL/MariaDB engine: mysqldump for backups, and a
// restore that loads into a shadow schema and swaps it in with one atomic
// RENAME TABLE, so that the live schema stays readable throughout.
//
// SQL the engine runs itself goes through go-sql-driver/mysql; dumps, loads
// and scripts go through the mysqldump and mysql clients, which get the
// password from a private option file, never from their arguments.
package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/sqlscript"
	"github.com/envsync/envsync/runner/engine/testpause"
)

// Engine dumps, restores and transforms one MySQL schema.
type Engine struct {
	cfg    engine.Config
	log    *slog.Logger
	logTLS sync.Once // the first session of a run logs how it is protected
}

// New returns the MySQL engine for cfg.
func New(cfg engine.Config) (engine.Engine, error) {
	if cfg.Database == "" {
		return nil, errors.New("mysql: no database (DB_DATABASE) given")
	}
	if len(cfg.Database) > 64 {
		return nil, fmt.Errorf("mysql: database name %q is longer than MySQL's 64 characters", cfg.Database)
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = 3306
	}
	return &Engine{cfg: cfg, log: cfg.Logger().With("engine", "mysql", "database", cfg.Database)}, nil
}

// open connects to the server with no default schema. The first session of
// a run logs how it is protected, as the server sees it.
func (e *Engine) open(ctx context.Context) (*sql.DB, error) {
	db, err := e.connector("")
	if err != nil {
		return nil, err
	}
	db.SetMaxIdleConns(2)
	var logErr error
	e.logTLS.Do(func() { logErr = e.logProtection(ctx, db) })
	if logErr != nil {
		db.Close()
		return nil, logErr
	}
	return db, nil
}

// ping is the run's own first session before a client tool's: a refused
// TLS mode fails here, and the run logs how its sessions are protected.
func (e *Engine) ping(ctx context.Context) error {
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	return db.Close()
}

// connector is a pool of driver sessions on schema (may be empty) with the
// run's credentials and TLS settings: prefer falls back to plaintext only
// when the server offers no TLS.
func (e *Engine) connector(schema string) (*sql.DB, error) {
	c := mysql.NewConfig()
	c.User = e.cfg.User
	c.Passwd = e.cfg.Password
	c.Net = "tcp"
	c.Addr = e.cfg.Host + ":" + strconv.Itoa(e.cfg.Port)
	c.DBName = schema
	c.Timeout = 30 * time.Second
	c.Apply(mysql.Charset("utf8mb4", ""))
	tc, err := e.cfg.TLS.ClientConfig(e.cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	c.TLS = tc
	c.AllowFallbackToPlaintext = e.cfg.TLS.Effective() == engine.TLSPrefer
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	return sql.OpenDB(conn), nil
}

// logProtection asks the server how this session is protected and logs
// it; it is also the run's first connection, so a refused TLS mode fails
// here, before anything is touched.
func (e *Engine) logProtection(ctx context.Context, db *sql.DB) error {
	var name, version string
	if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_version'").Scan(&name, &version); err != nil {
		return fmt.Errorf("mysql: connecting to %s:%d as %q (sslmode %s): %w", e.cfg.Host, e.cfg.Port, e.cfg.User, e.cfg.TLS.Effective(), err)
	}
	protection := "plaintext"
	if version != "" {
		protection = "TLS " + version
	}
	e.log.Info("database sessions", "sslmode", e.cfg.TLS.Effective(), "protection", protection)
	return nil
}

// client is one run of a MySQL client tool (mysqldump, mysql). Its option
// file carries the credentials; it is removed by close.
type client struct {
	bin        string // the client tool this client runs
	optionFile string
}

// newClient finds the first of tools on PATH and writes a private option
// file with the connection settings for it.
func (e *Engine) newClient(tools ...string) (*client, error) {
	bin, err := tool(tools...)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "envsync-mysql-*.cnf")
	if err != nil {
		return nil, fmt.Errorf("mysql: option file: %w", err)
	}
	// CreateTemp makes the file 0600: only this user can read the password.
	var b strings.Builder
	b.WriteString("[client]\n")
	fmt.Fprintf(&b, "host=%s\nport=%d\nprotocol=tcp\n", optionValue(e.cfg.Host), e.cfg.Port)
	if e.cfg.User != "" {
		fmt.Fprintf(&b, "user=%s\n", optionValue(e.cfg.User))
	}
	if e.cfg.Password != "" {
		fmt.Fprintf(&b, "password=%s\n", optionValue(e.cfg.Password))
	}
	b.WriteString(clientTLSOptions(e.cfg.TLS))
	_, werr := f.WriteString(b.String())
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("mysql: option file: %w", err)
	}
	return &client{bin: bin, optionFile: f.Name()}, nil
}

func (c *client) close() { os.Remove(c.optionFile) }

// clientTLSOptions are the option-file lines of the MariaDB clients
// (mariadb, mariadb-dump) for a TLS mode. These clients use TLS whenever
// the server offers it and fail without it only when verifying; so for
// require the runner's own first session (logProtection), which does fail
// without TLS, runs before any client. A CA bundle makes them verify the
// chain; ssl-verify-server-cert adds the host name.
func clientTLSOptions(t engine.TLS) string {
	switch t.Effective() {
	case engine.TLSDisable:
		return "skip-ssl\n"
	case engine.TLSVerifyFull:
		return fmt.Sprintf("ssl\nssl-ca=%s\nssl-verify-server-cert\n", optionValue(t.RootCert))
	}
	if t.Verifies() {
		return fmt.Sprintf("ssl\nssl-ca=%s\n", optionValue(t.RootCert))
	}
	return "ssl\n"
}

// optionValue quotes a value for a MySQL option file, where # starts a
// comment and backslash escapes.
func optionValue(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// command builds a client tool invocation; --defaults-file must come first,
// and makes the tool read no option file but envsync's. The child dies with the runner, so a killed run leaves no client
// writing into the shadow.
func (c *client) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--defaults-file=" + c.optionFile}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Only what the tool needs: the password is in the option file, and
	// none of the runner's other variables (its AWS keys) reach the tool.
	cmd.Env = engine.ChildEnv(os.Getenv, "MYSQL_PWD=")
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// tool finds a client tool, preferring MariaDB's names (MariaDB 11 warns
// about the mysql* aliases) and falling back to MySQL's.
func tool(names ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("mysql: none of %s found on PATH (install the MariaDB or MySQL client)", strings.Join(names, ", "))
}

// stderrTail keeps the end of a child's stderr for error messages.
type stderrTail struct{ b []byte }

const stderrKeep = 4096

func (s *stderrTail) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	if len(s.b) > stderrKeep {
		s.b = append(s.b[:0], s.b[len(s.b)-stderrKeep:]...)
	}
	return len(p), nil
}

func (s *stderrTail) String() string { return string(bytes.TrimSpace(s.b)) }

// Dump streams mysqldump of the schema into w.
func (e *Engine) Dump(ctx context.Context, w io.Writer) error {
	c, err := e.newClient("mariadb-dump", "mysqldump")
	if err != nil {
		return err
	}
	defer c.close()
	if err := e.ping(ctx); err != nil {
		return err
	}
	cmd := c.command(ctx,
		"--single-transaction", // a consistent snapshot without locking InnoDB tables
		"--routines", "--triggers", "--events",
		"--hex-blob", // binary columns survive any client character set
		"--default-character-set=utf8mb4",
		"--no-tablespaces",
		"--max-allowed-packet=1G",
		"--quick",
		"--", e.cfg.Database)
	var stderr stderrTail
	cmd.Stderr = &stderr
	e.log.Info("dumping", "tool", c.bin)
	if err := engine.DumpTo(cmd, w); err != nil {
		return fmt.Errorf("mysql: mysqldump of %s: %w: %s", e.cfg.Database, err, stderr.String())
	}
	return nil
}

// Transform runs script on the live schema in one transaction that stops
// at the first error. Statements after which MySQL could not roll back
// (DDL, which commits implicitly) are refused before anything runs.
func (e *Engine) Transform(ctx context.Context, script string) error {
	if err := e.ping(ctx); err != nil {
		return err
	}
	e.log.Info("running transform script on live schema")
	if err := e.runScript(ctx, e.cfg.Database, script, true); err != nil {
		return fmt.Errorf("mysql: transform of %s: %w", e.cfg.Database, err)
	}
	return nil
}

// runScript runs script on schema, statement by statement on one session
// of the driver (never through the mysql client, whose commands could run
// a shell), inside a transaction that envsync opens and commits: the first
// error stops it and nothing after runs; a statement that would end the
// transaction is refused before anything runs. live says the schema is the
// live one (a transform), where implicit commits are refused too. Line
// numbers in errors are the script's.
func (e *Engine) runScript(ctx context.Context, schema, script string, live bool) error {
	if err := sqlscript.Check(script, sqlscript.MySQL, live); err != nil {
		return fmt.Errorf("script refused, nothing of it ran: %w", err)
	}
	stmts, _ := sqlscript.Split(script, sqlscript.MySQL) // Check has read it
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "USE "+quoteName(schema)); err != nil {
		return fmt.Errorf("using %s: %w", schema, err)
	}
	if _, err := conn.ExecContext(ctx, "START TRANSACTION"); err != nil {
		return fmt.Errorf("starting the script's transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s.Text); err != nil {
			return fmt.Errorf("script stopped at line %d, the statements before it rolled back%s: %w", s.Line, implicitNote(live), err)
		}
	}
	// The server's own word, where it gives it (MariaDB): the transaction
	// envsync opened is still open. A script whose last statement is DDL
	// on the shadow legitimately closed it.
	if len(stmts) > 0 && !sqlscript.CommitsImplicitly(stmts[len(stmts)-1]) {
		var open int
		if err := conn.QueryRowContext(ctx, "SELECT @@in_transaction").Scan(&open); err == nil && open != 1 {
			return errors.New("script failed: the transaction it ran in is no longer open; envsync commits a script itself, after it has run whole")
		}
	}
	testpause.At("sanitise")
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("committing the script: %w", err)
	}
	committed = true
	return nil
}

// implicitNote qualifies "rolled back" on the shadow, where a script may
// hold DDL that MySQL committed on its own: the shadow is dropped anyway.
func implicitNote(live bool) string {
	if live {
		return ""
	}
	return " (DDL before it was committed by MySQL, on the shadow only, which is now dropped)"
}
