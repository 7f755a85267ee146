package postgres

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
)

// CountRows reads an uncompressed custom-format archive (what Dump
// writes) and counts each table's rows: its data block is the table's
// COPY text, one row a line (newlines inside values are escaped). Tables
// are named "schema.table", as the restore counts them.
//
// The archive: a header, the table of contents, then one block per
// table's data. Integers are a sign byte and intSize bytes, smallest
// first; strings an integer length (-1: none) and the bytes
// (pg_backup_archiver.c, pg_backup_custom.c).
func (e *Engine) CountRows(r io.Reader) (map[string]int64, error) {
	a := &archive{r: bufio.NewReaderSize(r, 1<<20)}
	tables, err := a.header()
	if err != nil {
		return nil, fmt.Errorf("postgres: reading the archive's table of contents: %w", err)
	}
	rows := map[string]int64{}
	for _, name := range tables {
		rows[name] = 0 // a table with no rows has a block with no data
	}
	for {
		kind, err := a.r.ReadByte()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		id, err := a.int()
		if err != nil {
			return nil, err
		}
		switch kind {
		case blockData:
			n, err := a.countLines()
			if err != nil {
				return nil, err
			}
			if name, ok := tables[id]; ok {
				rows[name] += n
			}
		case blockBlobs:
			if err := a.skipBlobs(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("postgres: unknown block type %d in the archive", kind)
		}
	}
}

// Block types of the custom format.
const (
	blockData  = 1
	blockBlobs = 3
)

type archive struct {
	r                *bufio.Reader
	intSize, offSize int
	version          [3]byte
}

func (a *archive) atLeast(major, minor byte) bool {
	return a.version[0] > major || a.version[0] == major && a.version[1] >= minor
}

func (a *archive) int() (int, error) {
	sign, err := a.r.ReadByte()
	if err != nil {
		return 0, err
	}
	v := 0
	for i := range a.intSize {
		b, err := a.r.ReadByte()
		if err != nil {
			return 0, err
		}
		if i < 8 {
			v |= int(b) << (8 * i)
		}
	}
	if sign != 0 {
		v = -v
	}
	return v, nil
}

func (a *archive) str() (string, error) {
	n, err := a.int()
	if err != nil || n < 0 {
		return "", err
	}
	b := make([]byte, n)
	_, err = io.ReadFull(a.r, b)
	return string(b), err
}

func (a *archive) skip(n int) error {
	_, err := a.r.Discard(n)
	return err
}

// header reads the archive's header and table of contents, and returns
// the tables whose data blocks follow, by dump ID.
func (a *archive) header() (map[int]string, error) {
	head := make([]byte, 8)
	if _, err := io.ReadFull(a.r, head); err != nil {
		return nil, err
	}
	if string(head[:5]) != magic {
		return nil, errors.New("not a custom-format archive")
	}
	copy(a.version[:], head[5:8])
	if !a.atLeast(1, 12) {
		return nil, fmt.Errorf("archive version %d.%d is older than pg_dump 9.5's", a.version[0], a.version[1])
	}
	sizes := make([]byte, 3) // intSize, offSize, format
	if _, err := io.ReadFull(a.r, sizes); err != nil {
		return nil, err
	}
	a.intSize, a.offSize = int(sizes[0]), int(sizes[1])
	if a.atLeast(1, 15) {
		if err := a.skip(1); err != nil { // the compression algorithm
			return nil, err
		}
	} else if _, err := a.int(); err != nil { // the compression level
		return nil, err
	}
	for range 7 { // the time of the dump
		if _, err := a.int(); err != nil {
			return nil, err
		}
	}
	for range 3 { // database name, server and pg_dump versions
		if _, err := a.str(); err != nil {
			return nil, err
		}
	}
	n, err := a.int()
	if err != nil {
		return nil, err
	}
	tables := map[int]string{}
	for range n {
		id, err := a.int()
		if err != nil {
			return nil, err
		}
		if _, err := a.int(); err != nil { // had a dumper
			return nil, err
		}
		var f [5]string // tableoid, oid, tag, desc
		for i := range 4 {
			if f[i], err = a.str(); err != nil {
				return nil, err
			}
		}
		if _, err := a.int(); err != nil { // section
			return nil, err
		}
		for range 3 { // definition, drop and COPY statements
			if _, err := a.str(); err != nil {
				return nil, err
			}
		}
		if f[4], err = a.str(); err != nil { // namespace
			return nil, err
		}
		if _, err := a.str(); err != nil { // tablespace
			return nil, err
		}
		if a.atLeast(1, 14) {
			if _, err := a.str(); err != nil { // table access method
				return nil, err
			}
		}
		if a.atLeast(1, 16) {
			if _, err := a.int(); err != nil { // relkind
				return nil, err
			}
		}
		for range 2 { // owner, and a flag that was WITH OIDS
			if _, err := a.str(); err != nil {
				return nil, err
			}
		}
		for { // dependencies, until a missing string
			n, err := a.int()
			if err != nil {
				return nil, err
			}
			if n < 0 {
				break
			}
			if err := a.skip(n); err != nil {
				return nil, err
			}
		}
		if err := a.skip(1 + a.offSize); err != nil { // where its data is
			return nil, err
		}
		if f[3] == "TABLE DATA" {
			tables[id] = f[4] + "." + f[2]
		}
	}
	return tables, nil
}

// endOfData is what pg_dump writes after a table's rows.
const endOfData = "\\.\n\n\n"

// countLines counts the rows of a data block: its chunks' newlines, less
// those of the end-of-data marker.
func (a *archive) countLines() (int64, error) {
	var n int64
	buf := make([]byte, 64<<10)
	var tail []byte // the block's last bytes
	for {
		size, err := a.int()
		if err != nil {
			return 0, err
		}
		if size == 0 {
			if bytes.HasSuffix(tail, []byte(endOfData)) {
				n -= int64(strings.Count(endOfData, "\n"))
			}
			return n, nil
		}
		for size > 0 {
			chunk := buf[:min(size, len(buf))]
			if _, err := io.ReadFull(a.r, chunk); err != nil {
				return 0, err
			}
			n += int64(bytes.Count(chunk, []byte{'\n'}))
			tail = append(tail, chunk[max(0, len(chunk)-8):]...)
			tail = tail[max(0, len(tail)-8):]
			size -= len(chunk)
		}
	}
}

// skipBlobs passes over the large objects' block: each an OID and data
// chunks, until an OID of 0.
func (a *archive) skipBlobs() error {
	for {
		oid, err := a.int()
		if err != nil || oid == 0 {
			return err
		}
		for {
			size, err := a.int()
			if err != nil {
				return err
			}
			if size == 0 {
				break
			}
			if err := a.skip(size); err != nil {
				return err
			}
		}
	}
}

// countRows counts table ("schema.table", as CountRows names it) in the
// database conn is on, without its children: pg_dump dumps each child's
// rows as its own.
func countRows(ctx context.Context, conn *pgx.Conn, table string) (int64, error) {
	var rel string
	err := conn.QueryRow(ctx, `SELECT c.oid::regclass::text FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname || '.' || c.relname = $1`, table).Scan(&rel)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("no table %s", table)
	}
	if err != nil {
		return 0, err
	}
	var n int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM ONLY "+rel).Scan(&n)
	return n, err
}
