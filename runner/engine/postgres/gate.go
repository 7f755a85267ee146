package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/runner/gate"
)

// gateDB is the personal-data gate's view of the shadow, on the session
// that runs the script.
type gateDB struct{ conn *pgx.Conn }

// Columns lists the columns of every ordinary and partitioned table
// outside the system schemas; a table in public is named bare, others
// "schema.table".
func (g gateDB) Columns(ctx context.Context) ([]gate.Column, error) {
	rows, err := g.conn.Query(ctx, `
		SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END,
		       quote_ident(n.nspname) || '.' || quote_ident(c.relname),
		       a.attname,
		       t.typcategory = 'S' OR t.typname IN ('json', 'jsonb', 'xml')
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_type t ON t.oid = a.atttypid
		WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
		ORDER BY 1, a.attnum`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (gate.Column, error) {
		var c gate.Column
		err := r.Scan(&c.Table, &c.From, &c.Name, &c.Text)
		return c, err
	})
}

// Fingerprint is the column's row count and the sum of its values' 64-bit
// hashes: independent of row order, which an UPDATE of another column
// changes.
func (g gateDB) Fingerprint(ctx context.Context, c gate.Column) (string, error) {
	var n int64
	var sum string
	err := g.conn.QueryRow(ctx, fmt.Sprintf(`SELECT count(%[1]s), coalesce(sum(hashtextextended(%[1]s::text, 0)), 0)::text FROM %[2]s`,
		ident(c.Name), c.From)).Scan(&n, &sum)
	return fmt.Sprintf("%d %s", n, sum), err
}

// Sample reads up to n non-null values of a text column.
func (g gateDB) Sample(ctx context.Context, c gate.Column, n int, f func(string)) error {
	rows, err := g.conn.Query(ctx, fmt.Sprintf(`SELECT %[1]s::text FROM %[2]s WHERE %[1]s IS NOT NULL LIMIT %[3]d`,
		ident(c.Name), c.From, n))
	if err != nil {
		return err
	}
	defer rows.Close()
	return gate.EachString(rows, f)
}

// Inspect gives the gate's view of the live database, read only.
func (e *Engine) Inspect(ctx context.Context) (gate.DB, func(), error) {
	conn, err := e.connect(ctx, e.cfg.Database)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.Exec(ctx, "SET default_transaction_read_only = on"); err != nil {
		conn.Close(context.Background())
		return nil, nil, err
	}
	return gateDB{conn}, func() { conn.Close(context.Background()) }, nil
}
