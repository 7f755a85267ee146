package postgres

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/postgres/pgscript"
)

// connect opens a session on database with the engine's credentials and
// TLS settings. Every setting is explicit, so that nothing depends on which
// folders exist (pgx picks a Unix socket by default when /tmp does) and the
// session is protected exactly as the client tools' (sslmode means what it
// means to libpq: prefer falls back to plaintext only when the server
// offers no TLS). The first session of a run logs how it is protected.
func (e *Engine) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	return e.connectWith(ctx, database, nil)
}

// connectWith is connect with settings of the session's own.
func (e *Engine) connectWith(ctx context.Context, database string, settings map[string]string) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(e.connString(database))
	if err != nil {
		return nil, fmt.Errorf("postgres: %s", e.redact(err.Error()))
	}
	maps.Copy(cc.RuntimeParams, settings)
	// The password is set here, not in the connection string, so that no
	// parse error can quote it.
	cc.Password = e.cfg.Password
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("postgres: connecting to %q on %s:%d as %q (sslmode %s): %s", database, e.cfg.Host, e.cfg.Port, e.cfg.User, e.cfg.TLS.Effective(), e.redact(err.Error()))
	}
	e.logTLS.Do(func() {
		var cs *tls.ConnectionState
		if tc, ok := conn.PgConn().Conn().(*tls.Conn); ok {
			s := tc.ConnectionState()
			cs = &s
		}
		e.log().Info("database sessions", "sslmode", e.cfg.TLS.Effective(), "protection", engine.Describe(cs))
	})
	return conn, nil
}

// connString is the libpq keyword/value string of a session on database,
// without the password.
func (e *Engine) connString(database string) string {
	kv := [][2]string{
		{"host", e.cfg.Host},
		{"port", strconv.Itoa(e.cfg.Port)},
		{"user", e.cfg.User},
		{"dbname", database},
		{"sslmode", string(e.cfg.TLS.Effective())},
		{"connect_timeout", "30"},
		{"application_name", "envsync"},
	}
	if e.cfg.TLS.RootCert != "" {
		kv = append(kv, [2]string{"sslrootcert", e.cfg.TLS.RootCert})
	}
	var b strings.Builder
	q := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	for _, p := range kv {
		fmt.Fprintf(&b, "%s='%s' ", p[0], q.Replace(p[1]))
	}
	return b.String()
}

// scriptError names the line of the script where the server found the
// error, when it says where (syntax errors do).
func scriptError(script string, err error) error {
	offset, ok := pgscript.ErrorOffset(script, err)
	if !ok {
		return err
	}
	if offset == len(script) && offset > 0 {
		offset-- // at the end of input: the last character's line
	}
	return fmt.Errorf("line %d: %w", 1+strings.Count(script[:offset], "\n"), err)
}
