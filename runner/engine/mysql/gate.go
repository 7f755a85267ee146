package mysql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/envsync/envsync/runner/gate"
)

// gateDB is the personal-data gate's view of the shadow schema.
type gateDB struct {
	db     *sql.DB
	schema string
}

// Columns lists the columns of the schema's base tables.
func (g gateDB) Columns(ctx context.Context) ([]gate.Column, error) {
	rows, err := g.db.QueryContext(ctx, `
		SELECT c.TABLE_NAME, c.COLUMN_NAME,
		       c.DATA_TYPE IN ('char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'json', 'enum', 'set')
		FROM information_schema.COLUMNS c
		JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
		WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE'
		ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`, g.schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []gate.Column
	for rows.Next() {
		var c gate.Column
		if err := rows.Scan(&c.Table, &c.Name, &c.Text); err != nil {
			return nil, err
		}
		c.From = quoteName(g.schema) + "." + quoteName(c.Table)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Fingerprint is the column's count of values and the sum of their CRC-32s:
// independent of row order.
func (g gateDB) Fingerprint(ctx context.Context, c gate.Column) (string, error) {
	var n int64
	var sum string
	err := g.db.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(%[1]s), CAST(COALESCE(SUM(CRC32(%[1]s)), 0) AS CHAR) FROM %[2]s", quoteName(c.Name), c.From)).Scan(&n, &sum)
	return fmt.Sprintf("%d %s", n, sum), err
}

// Sample reads up to n non-null values of a text column.
func (g gateDB) Sample(ctx context.Context, c gate.Column, n int, f func(string)) error {
	rows, err := g.db.QueryContext(ctx, fmt.Sprintf("SELECT CAST(%[1]s AS CHAR) FROM %[2]s WHERE %[1]s IS NOT NULL LIMIT %[3]d", quoteName(c.Name), c.From, n))
	if err != nil {
		return err
	}
	defer rows.Close()
	return gate.EachString(rows, f)
}

// Inspect gives the gate's view of the live schema.
func (e *Engine) Inspect(ctx context.Context) (gate.DB, func(), error) {
	db, err := e.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return gateDB{db, e.cfg.Database}, func() { db.Close() }, nil
}
