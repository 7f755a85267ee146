// Package postgres is the PostgreSQL engine of the runner: pg_dump custom
// format out; pg_restore into a shadow database, the sanitise script there,
// and one transaction that renames live to old and shadow to live.
package postgres

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/sqlscript"
	"github.com/envsync/envsync/runner/engine/testpause"
)

// Engine dumps, restores and transforms one PostgreSQL database.
type Engine struct {
	cfg    engine.Config
	logTLS sync.Once // the first session of a run logs how it is protected
}

// New checks cfg and returns the PostgreSQL engine for it. The client tools
// are looked up when an operation needs them, so that a transform runs where
// only the runner is installed.
func New(cfg engine.Config) (engine.Engine, error) {
	if cfg.Host == "" {
		return nil, errors.New("postgres: DB_HOST is empty")
	}
	if cfg.Database == "" {
		return nil, errors.New("postgres: DB_DATABASE is empty")
	}
	if cfg.User == "" {
		return nil, errors.New("postgres: DB_USER is empty")
	}
	if cfg.Port == 0 {
		cfg.Port = 5432
	}
	return &Engine{cfg: cfg}, nil
}

// log is the default logger when the operation runs: the runner makes it its
// own JSON logger, which also redacts secrets.
func (e *Engine) log() *slog.Logger { return e.cfg.Logger() }

// magic starts every pg_dump custom-format archive.
const magic = "PGDMP"

// Dump streams `pg_dump -Fc -Z0` of the live database into w: uncompressed,
// because the runner compresses on the other cores (pg_dump's own zlib runs
// on one core and is the bottleneck).
func (e *Engine) Dump(ctx context.Context, w io.Writer) error { return e.dump(ctx, w, 0) }

// DumpGzip streams `pg_dump -Fc -Z1`, with pg_dump's own gzip compression
// at its fastest level (it runs on one core, in pg_dump): the file
// `pg_restore` reads as it is, the chart's format.
func (e *Engine) DumpGzip(ctx context.Context, w io.Writer) error { return e.dump(ctx, w, 1) }

func (e *Engine) dump(ctx context.Context, w io.Writer, level int) error {
	bin, err := tool("pg_dump")
	if err != nil {
		return err
	}
	// One session of the runner's own first: a server that refuses the TLS
	// mode fails here with a clear error, and the run logs how its sessions
	// are protected, as restores and transforms do.
	if err := e.ping(ctx); err != nil {
		return err
	}
	cmd := e.command(ctx, bin, e.cfg.Database, "--format=custom", fmt.Sprintf("--compress=%d", level), "--no-password")
	// A dump only reads: the server refuses any write in its sessions.
	cmd.Env = append(cmd.Env, "PGOPTIONS=-c default_transaction_read_only=on")
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stderr = stderr
	return e.result("pg_dump", engine.DumpTo(cmd, w), stderr)
}

// Check reads the whole stream through `pg_restore -f /dev/null`, which
// parses every TOC entry and data block, so that a truncated archive or one
// that is not a custom-format dump is refused. It touches no database.
func (e *Engine) Check(ctx context.Context, r io.Reader) error {
	br, err := peekMagic(r)
	if err != nil {
		return err
	}
	bin, err := tool("pg_restore")
	if err != nil {
		return err
	}
	cmd := e.command(ctx, bin, "", "--file=/dev/null")
	if err := e.feed(cmd, "pg_restore (check)", br, "check"); err != nil {
		return fmt.Errorf("postgres: the dump is not a complete custom-format archive: %w", err)
	}
	return nil
}

// peekMagic refuses a stream that does not start like a custom-format
// archive before anything else happens: a plain SQL dump, a mysqldump, a
// still-compressed file.
func peekMagic(r io.Reader) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(len(magic))
	if string(head) != magic {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("postgres: reading the dump: %w", err)
		}
		return nil, fmt.Errorf("postgres: the dump is not a pg_dump custom-format archive (it starts with %q, not %q)", printable(head), magic)
	}
	return br, nil
}

func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '.'
		}
		return r
	}, string(b))
}

// Transform runs script on the live database in one transaction that stops
// at the first error.
func (e *Engine) Transform(ctx context.Context, script string) error {
	conn, err := e.connect(ctx, e.cfg.Database)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if err := runScript(ctx, conn, script, ""); err != nil {
		return fmt.Errorf("postgres: transform of %q: %w", e.cfg.Database, err)
	}
	return nil
}

// ping opens and closes one session on the live database.
func (e *Engine) ping(ctx context.Context) error {
	conn, err := e.connect(ctx, e.cfg.Database)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// runScript runs script in one transaction. Without arguments pgx sends it
// with the simple query protocol, so the server runs the statements in order
// and skips the rest after the first error; the transaction then rolls back.
// pausePoint, when set, is where a test build stops before the commit.
func runScript(ctx context.Context, conn *pgx.Conn, script, pausePoint string) error {
	if err := checkScript(script); err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning the script's transaction: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, script); err != nil {
		return fmt.Errorf("script failed, nothing of it was applied: %w", scriptError(script, err))
	}
	// The server's own word, should a statement have slipped past
	// checkScript: the transaction must still be open, and not failed.
	if status := conn.PgConn().TxStatus(); status != 'T' {
		return fmt.Errorf("script failed: it ended the transaction it runs in (the server reports transaction status %q, want 'T'); envsync commits a script itself, after it has run whole", status)
	}
	if pausePoint != "" {
		testpause.At(pausePoint)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing the script: %w", err)
	}
	return nil
}

// checkScript refuses, before anything runs, a script with a statement
// that would end the transaction it runs in.
func checkScript(script string) error {
	if err := sqlscript.Check(script, sqlscript.Postgres, false); err != nil {
		return fmt.Errorf("script refused, nothing of it ran: %w", err)
	}
	return nil
}

// command prepares a client tool with the connection in its environment
// (PGPASSWORD included), never in its arguments. database may be empty for
// tools that do not connect.
func (e *Engine) command(ctx context.Context, bin, database string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	// Only what the tool needs: the runner's other variables (its AWS
	// keys, its own PG* settings) never reach it.
	env := engine.ChildEnv(os.Getenv,
		"PGHOST="+e.cfg.Host,
		fmt.Sprintf("PGPORT=%d", e.cfg.Port),
		"PGUSER="+e.cfg.User,
		"PGAPPNAME=envsync",
		"PGCONNECT_TIMEOUT=30",
		"PGSSLMODE="+string(e.cfg.TLS.Effective()),
		"PGPASSFILE=/dev/null",
	)
	if e.cfg.TLS.RootCert != "" {
		env = append(env, "PGSSLROOTCERT="+e.cfg.TLS.RootCert)
	}
	if e.cfg.Password != "" {
		env = append(env, "PGPASSWORD="+e.cfg.Password)
	}
	if database != "" {
		env = append(env, "PGDATABASE="+database)
	}
	cmd.Env = env
	// The child dies with the runner: a killed restore must not leave a
	// pg_restore writing into the shadow that the next run drops.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// feed runs cmd with r as its standard input. An input that the tool stops
// reading before its end (trailing bytes) is an error too.
func (e *Engine) feed(cmd *exec.Cmd, name string, r io.Reader, pausePoint string) error {
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: starting %s: %w", name, err)
	}
	var src io.Reader = r
	if pausePoint != "" {
		src = testpause.Reader(r, pausePoint)
	}
	// The copy runs beside the tool. When the tool dies (cancelled, or
	// refusing the input), Wait closes its stdin and the copy stops at its
	// next write; a copy blocked reading a stalled source is given a few
	// seconds (an S3 body unblocks when the context is cancelled), then left.
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(stdin, src)
		if cerr := stdin.Close(); err == nil && cerr != nil && !errors.Is(cerr, os.ErrClosed) {
			err = cerr
		}
		copied <- err
	}()
	if err := cmd.Wait(); err != nil {
		select {
		case cerr := <-copied:
			// A dump that fails to decompress or download makes the tool
			// fail on its truncated input: the reading error is the cause.
			if cerr != nil && !errors.Is(cerr, syscall.EPIPE) && !errors.Is(cerr, os.ErrClosed) {
				return fmt.Errorf("postgres: reading the dump: %w (then %v)", cerr, e.result(name, err, stderr))
			}
		case <-time.After(5 * time.Second):
		}
		return e.result(name, err, stderr)
	}
	if err := <-copied; err != nil {
		return fmt.Errorf("postgres: streaming the dump into %s: %w", name, err)
	}
	if s := strings.TrimSpace(e.redact(stderr.String())); s != "" {
		e.log().Warn(name+" wrote to stderr", "stderr", s)
	}
	return nil
}

func (e *Engine) result(name string, err error, stderr *tailBuffer) error {
	if err == nil {
		if s := strings.TrimSpace(e.redact(stderr.String())); s != "" {
			e.log().Warn(name+" wrote to stderr", "stderr", s)
		}
		return nil
	}
	msg := strings.TrimSpace(e.redact(stderr.String()))
	if msg == "" {
		return fmt.Errorf("postgres: %s: %w", name, err)
	}
	return fmt.Errorf("postgres: %s: %w: %s", name, err, msg)
}

func (e *Engine) redact(s string) string { return e.cfg.Redact(s) }

// tailBuffer keeps the last max bytes written to it: enough of a tool's
// stderr to explain a failure, bounded whatever the tool prints.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.ToValidUTF8(t.buf, nil)) }

// tool finds a PostgreSQL client tool on PATH, else in the newest
// /usr/lib/postgresql/<major>/bin (where Debian installs them). pg_dump must
// be at least the server's major version.
func tool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("postgres: %s not found on PATH nor in /usr/lib/postgresql/*/bin; install the PostgreSQL client tools (apt-get install postgresql-client)", name)
}

func majorOf(dir string) int {
	n := 0
	fmt.Sscanf(filepath.Base(filepath.Dir(dir)), "%d", &n)
	return n
}
