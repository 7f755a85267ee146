package mysql

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
)

// CountRows reads a mysqldump and counts each table's rows: the tuples of
// its INSERT statements at top level (a routine's body, under another
// DELIMITER, may hold an INSERT too), every table it creates counted from
// zero. A tuple is a parenthesis opened outside a quoted value at the
// statement's top level, after VALUES.
func (e *Engine) CountRows(r io.Reader) (map[string]int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	rows := map[string]int64{}
	var c tupleCounter
	delim, atStart := "", true
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			switch {
			case c.table != "":
				c.scan(line, rows)
			case atStart && delim == "" && bytes.HasPrefix(line, []byte("INSERT INTO `")):
				name, rest, ok := backquoted(line[len("INSERT INTO "):])
				if !ok {
					return nil, fmt.Errorf("mysql: an INSERT whose table name is cut: %.60q", line)
				}
				// VALUES ends its line (MariaDB's tuples follow a line each)
				// or goes on with the first tuple (MySQL's).
				_, values, found := bytes.Cut(rest, []byte(" VALUES"))
				if !found {
					return nil, fmt.Errorf("mysql: an INSERT into %s without VALUES on its first line", name)
				}
				c = tupleCounter{table: name}
				c.scan(values, rows)
			case atStart && delim == "" && bytes.HasPrefix(line, []byte("CREATE TABLE `")):
				if name, _, ok := backquoted(line[len("CREATE TABLE "):]); ok {
					rows[name] += 0
				}
			case atStart:
				if d, ok := bytes.CutPrefix(line, []byte("DELIMITER ")); ok {
					delim = string(bytes.TrimSpace(d))
					if delim == ";" {
						delim = ""
					}
				}
			}
			atStart = line[len(line)-1] == '\n'
		}
		if errors.Is(err, io.EOF) {
			if c.table != "" {
				return nil, fmt.Errorf("mysql: the dump ends inside an INSERT into %s", c.table)
			}
			return rows, nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// tupleCounter follows one INSERT statement across lines and reads.
type tupleCounter struct {
	table   string
	depth   int
	quote   byte // the quote of the value being read, 0 outside one
	escaped bool
}

// scan counts the tuples in b, and ends the statement at its ";".
func (c *tupleCounter) scan(b []byte, rows map[string]int64) {
	for _, ch := range b {
		switch {
		case c.escaped:
			c.escaped = false
		case c.quote != 0:
			switch ch {
			case '\\':
				c.escaped = true
			case c.quote:
				c.quote = 0 // a doubled quote reopens at once: same count
			}
		case ch == '\'' || ch == '"':
			c.quote = ch
		case ch == '(':
			if c.depth == 0 {
				rows[c.table]++
			}
			c.depth++
		case ch == ')':
			c.depth--
		case ch == ';' && c.depth == 0:
			c.table = ""
			return
		}
	}
}

// backquoted reads a `name` (“ inside it is one `) and what follows.
func backquoted(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '`' {
		return "", nil, false
	}
	var name []byte
	for i := 1; i < len(b); i++ {
		if b[i] != '`' {
			name = append(name, b[i])
			continue
		}
		if i+1 < len(b) && b[i+1] == '`' {
			name = append(name, '`')
			i++
			continue
		}
		return string(name), b[i+1:], true
	}
	return "", nil, false
}

// countRows counts table in schema.
func countRows(ctx context.Context, db *sql.DB, schema, table string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteName(schema)+"."+quoteName(table)).Scan(&n)
	return n, err
}
