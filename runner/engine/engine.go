// Package engine is what the runner needs from an engine, of one of two
// kinds. A streaming engine (Engine: PostgreSQL, MySQL, Mongo) dumps and
// restores through the runner, which composes it with a storage.Store,
// compression, checksums and metrics. A snapshot engine (SnapshotEngine:
// OpenSearch) has the cluster write and read its own snapshot repository;
// no dump passes through the runner. Each engine lives in its own package
// and is named once, in package runner/engines.
package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/envsync/envsync/runner/gate"
)

// Config is how to reach the database, from the runner environment
// (DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_DATABASE, DB_OWNER,
// DB_SSLMODE, DB_SSLROOTCERT).
// The password is handed to child tools through their environment or a
// file, never through their arguments, and never logged.
type Config struct {
	Host     string
	Port     int
	User     string
	Password string
	Database string // the live database (PostgreSQL) or schema (MySQL)
	Owner    string // role that owns the database after a restore
	TLS      TLS    // DB_SSLMODE, DB_SSLROOTCERT
	// AuthMechanism is Mongo's (DB_AUTH_MECHANISM): empty lets the driver
	// negotiate SCRAM (DocumentDB, MongoDB); PLAIN for servers with LDAP or
	// proxy authentication (FerretDB v1).
	AuthMechanism string
	// Holder names this run (the pod's name, HOSTNAME) in a lock that does
	// not die with a session (Mongo's restore lease).
	Holder string
	// LoadSessions (PostgreSQL, ENVSYNC_POSTGRES_LOAD_SESSIONS) is how many
	// sessions load a restore's rows; 0 lets pg_restore load them on one.
	LoadSessions int
	// Log is where the engine logs (the runner's redacting logger); nil:
	// slog's default.
	Log *slog.Logger
	// LoadWorkers (MySQL, ENVSYNC_MYSQL_LOAD_WORKERS) is how many
	// connections insert a restore's rows: 0 the default (2 to 4, by
	// cores), -1 none (every row through the mysql client).
	LoadWorkers int
}

// Logger is c.Log, or slog's default.
func (c Config) Logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// MaxLoadSessions bounds LoadSessions.
const MaxLoadSessions = 16

// Redact removes the password from s: for a client tool's output or a
// driver's error, before it reaches a log or an error.
func (c Config) Redact(s string) string {
	if c.Password == "" {
		return s
	}
	return strings.ReplaceAll(s, c.Password, "[REDACTED]")
}

// RestoreOptions steer one restore.
type RestoreOptions struct {
	// SanitiseScript, when not empty, is the content of a script run on the
	// shadow copy, in one transaction that stops at the first error, before
	// the swap.
	SanitiseScript string
	// Gate, when set, proves the sanitising worked: its Before runs on the
	// loaded shadow, its After once the script has run; an error from
	// either leaves live untouched.
	Gate *gate.Check
	// BeforeSwap is called once the shadow is complete (and sanitised), just
	// before the swap; an error aborts the restore and leaves live untouched.
	// The runner uses it to check the dump's checksum.
	BeforeSwap func() error
	// Rows, when set, are the rows (documents) of each table (collection)
	// the backup dumped: the loaded copy must hold exactly these, checked
	// before the script runs (which may delete rows), or live is left as
	// it was.
	Rows map[string]int64
}

// RowCounter is an engine that counts the rows of each table in its own
// dump as it streams by: the backup records them beside the dump, from
// what was dumped, with no second read of the database or the dump.
type RowCounter interface {
	// CountRows reads a whole uncompressed dump and returns its rows per
	// table, named as the engine's restore counts them.
	CountRows(r io.Reader) (map[string]int64, error)
}

// CheckRows compares what count finds in the loaded copy with want, and
// names every table that differs.
func CheckRows(ctx context.Context, want map[string]int64, count func(ctx context.Context, table string) (int64, error)) error {
	var wrong []string
	for _, table := range slices.Sorted(maps.Keys(want)) {
		got, err := count(ctx, table)
		if err != nil {
			return fmt.Errorf("counting the rows of %s in the loaded copy: %w", table, err)
		}
		if got != want[table] {
			wrong = append(wrong, fmt.Sprintf("%s holds %d, the backup dumped %d", table, got, want[table]))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("the loaded copy does not hold the rows the backup dumped (%s): the dump lost or gained rows on the way", strings.Join(wrong, "; "))
	}
	return nil
}

// GzipDumper is an engine whose own dump format compresses with gzip
// (PostgreSQL's custom format): asked for the gzip format, the runner
// stores what DumpGzip writes as it is, the form the engine's own restore
// tool reads from a file (pg_restore).
type GzipDumper interface {
	DumpGzip(ctx context.Context, w io.Writer) error
}

// Engine dumps, restores and transforms one database.
type Engine interface {
	// Dump writes a complete, uncompressed dump of the live database to w.
	Dump(ctx context.Context, w io.Writer) error
	// Check reads a whole uncompressed dump and returns an error if it is not
	// a complete, readable dump of this engine. It touches no database.
	Check(ctx context.Context, r io.Reader) error
	// Restore loads the dump read from r into a shadow, runs the sanitise
	// script there, and swaps shadow and live atomically. At every instant the
	// live database is the complete old copy or the complete new one. It first
	// cleans up what a killed earlier run left behind.
	Restore(ctx context.Context, r io.Reader, opts RestoreOptions) error
	// Transform runs script on the live database in one transaction that
	// stops at the first error.
	Transform(ctx context.Context, script string) error
}

// passedToChildren are the runner's own variables a client tool may see:
// where programs and temporary files are, the locale, the time zone and
// CA bundles. Nothing else of the runner's environment (DB_PASSWORD, the
// AWS keys, a web identity token's path) reaches a child.
var passedToChildren = []string{"PATH", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS"}

// ChildEnv is the whole environment of a client tool: the few variables
// of the runner's that it may see (read through getenv), then extra.
func ChildEnv(getenv func(string) string, extra ...string) []string {
	env := make([]string, 0, len(passedToChildren)+len(extra))
	for _, k := range passedToChildren {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

// SnapshotResult is what a snapshot engine's operation reports.
type SnapshotResult struct {
	Snapshot string
	Size     int64     // the snapshot's size, from its stats
	Taken    time.Time // when the snapshot started
}

// SnapshotEngine backs up and restores a cluster through its own snapshot
// repository.
type SnapshotEngine interface {
	// Backup takes a snapshot and prunes the repository to its keep.
	Backup(ctx context.Context) (SnapshotResult, error)
	// Restore restores the snapshot named (the newest when ""), beside the
	// live indices, and moves every name over at once.
	Restore(ctx context.Context, name string) (SnapshotResult, error)
}

// Inspector is an engine whose live database `envsync classify` can read,
// through the personal-data gate's view, to draft a classification. close
// ends the session.
type Inspector interface {
	Inspect(ctx context.Context) (db gate.DB, close func(), err error)
}
