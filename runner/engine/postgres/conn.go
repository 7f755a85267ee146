package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// connect opens a session on database with the engine's credentials.
func (e *Engine) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig("")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cc.Host, cc.Port, cc.User, cc.Password, cc.Database = e.cfg.Host, uint16(e.cfg.Port), e.cfg.User, e.cfg.Password, database
	cc.Fallbacks = nil
	cc.ConnectTimeout = 30 * time.Second
	cc.RuntimeParams["application_name"] = "envsync"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("postgres: connecting to %q on %s:%d as %q: %s", database, e.cfg.Host, e.cfg.Port, e.cfg.User, e.redact(err.Error()))
	}
	return conn, nil
}

// scriptError names the line of the script where the server found the
// error, when it says where (syntax errors do).
func scriptError(script string, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Position <= 0 {
		return err
	}
	runes := []rune(script)
	pos := min(int(pgErr.Position), len(runes))
	line := 1 + strings.Count(string(runes[:pos-1]), "\n")
	return fmt.Errorf("line %d: %w", line, err)
}
