package mysql

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// A complete mysqldump starts with this header (after MariaDB's optional
// sandbox-mode line) and ends with the trailer. A dump cut short by a
// failed or killed mysqldump has no trailer.
var (
	dumpHeaders = [][]byte{[]byte("-- MySQL dump"), []byte("-- MariaDB dump")}
	dumpTrailer = []byte("-- Dump completed")
	pgdmpMagic  = []byte("PGDMP")
)

// headerLines is how many leading lines may precede the dump header.
const headerLines = 3

// ErrNotMySQLDump is wrapped by the errors of Check and Restore for a
// stream that is not a complete mysqldump.
var ErrNotMySQLDump = errors.New("not a complete mysqldump")

// checkHeader looks at the start of a dump, without consuming it.
func checkHeader(br *bufio.Reader) error {
	head, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("mysql: reading the dump: %w", err)
	}
	if len(head) == 0 {
		return fmt.Errorf("mysql: the dump is empty: %w", ErrNotMySQLDump)
	}
	if bytes.HasPrefix(head, pgdmpMagic) {
		return fmt.Errorf("mysql: this is a PostgreSQL custom-format dump (PGDMP), %w", ErrNotMySQLDump)
	}
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		return fmt.Errorf("mysql: this is gzip-compressed data, %w", ErrNotMySQLDump)
	}
	lines := bytes.SplitN(head, []byte("\n"), headerLines+1)
	for i, l := range lines {
		if i == headerLines {
			break
		}
		for _, h := range dumpHeaders {
			if bytes.HasPrefix(l, h) {
				return nil
			}
		}
	}
	first := lines[0]
	if len(first) > 40 {
		first = first[:40]
	}
	return fmt.Errorf("mysql: no \"-- MySQL dump\" or \"-- MariaDB dump\" header in the first %d lines (it starts with %q): %w", headerLines, first, ErrNotMySQLDump)
}

// trailerWatch remembers the end of a stream to find the trailer.
type trailerWatch struct {
	tail []byte
	n    int64
}

const tailKeep = 256

func (t *trailerWatch) Write(p []byte) (int, error) {
	t.n += int64(len(p))
	if len(p) >= tailKeep {
		t.tail = append(t.tail[:0], p[len(p)-tailKeep:]...)
	} else {
		t.tail = append(t.tail, p...)
		if len(t.tail) > tailKeep {
			t.tail = append(t.tail[:0], t.tail[len(t.tail)-tailKeep:]...)
		}
	}
	return len(p), nil
}

func (t *trailerWatch) check() error {
	tail := bytes.TrimRight(t.tail, "\r\n\t ")
	i := bytes.LastIndexByte(tail, '\n')
	last := tail[i+1:]
	if !bytes.HasPrefix(last, dumpTrailer) {
		return fmt.Errorf("mysql: the dump (%d bytes) ends without the %q trailer: it is truncated: %w", t.n, dumpTrailer, ErrNotMySQLDump)
	}
	return nil
}

// Check reads a whole uncompressed dump and refuses what is not a complete
// mysqldump. It touches no database.
func (e *Engine) Check(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if err := checkHeader(br); err != nil {
		return err
	}
	var tw trailerWatch
	if _, err := io.Copy(&tw, ctxReader{ctx, br}); err != nil {
		return fmt.Errorf("mysql: reading the dump: %w", err)
	}
	return tw.check()
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// definerRE matches a DEFINER clause as mysqldump writes it, in views,
// triggers, routines and events.
var definerRE = regexp.MustCompile("DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*`\\s*")

// stripDefiner removes DEFINER clauses: objects are then owned by the
// restoring user, so a definer that does not exist on this server, or that
// the restoring user may not impersonate, does not break the load.
func stripDefiner(s []byte) []byte {
	return definerRE.ReplaceAll(s, nil)
}

var (
	useRE            = regexp.MustCompile("^USE `((?:[^`]|``)*)`;")
	createDatabaseRE = regexp.MustCompile(`^(?:/\*!\d+ )?CREATE DATABASE `)
)

// loadFilter passes a dump to the mysql client on its way into the shadow:
// it strips DEFINER clauses from the DDL, drops the CREATE DATABASE and USE
// of a dump made with --databases (so that it loads into the shadow), and
// refuses a dump of several schemas. Data lines, which can be many
// megabytes long, are never rewritten. With inserters, INSERT statements go
// to them instead of the client, in parallel; a barrier keeps each table's
// rows after its CREATE TABLE and before what follows (its triggers).
type loadFilter struct {
	br      *bufio.Reader
	w       io.Writer // the mysql client
	tee     io.Writer // sees every byte, for the trailer check
	usedDB  string
	sawData bool
	onData  func() // called once, at the first row of data

	sink    *inserters
	barrier *barrier
	inData  bool
	delim   string // the client's delimiter: "" is ";"

	// keys, with inserters, builds tables' secondary keys after their rows
	// (keys.go); create collects a CREATE TABLE statement meanwhile.
	keys        *keyBuilder
	create      []byte
	createTable string
}

// isData tells a data line by its start; only DDL lines are rewritten.
func isData(prefix []byte) bool {
	return bytes.HasPrefix(prefix, []byte("INSERT ")) || bytes.HasPrefix(prefix, []byte("("))
}

// endsStatement tells the last line of an INSERT: mysqldump escapes
// newlines in values, so only a statement's end has ";" before its newline.
func endsStatement(line []byte) bool {
	return bytes.HasSuffix(bytes.TrimRight(line, "\r\n"), []byte(";"))
}

func (f *loadFilter) read() ([]byte, error) {
	line, err := f.br.ReadSlice('\n')
	f.tee.Write(line)
	return line, err
}

func (f *loadFilter) run() error {
	for {
		line, err := f.read()
		switch {
		// Rows only at top level: a routine or trigger body (under another
		// DELIMITER) may hold an INSERT line too.
		case f.sink != nil && f.delim == "" && bytes.HasPrefix(line, []byte("INSERT ")):
			if !f.inData {
				// The table exists before its rows go in.
				if berr := f.barrier.wait(); berr != nil {
					return berr
				}
				f.inData = true
			}
			f.firstData()
			stmt := append(make([]byte, 0, len(line)), line...)
			for errors.Is(err, bufio.ErrBufferFull) || (err == nil && !endsStatement(line)) {
				line, err = f.read()
				stmt = append(stmt, line...)
			}
			if ierr := f.sink.insert(stmt); ierr != nil {
				return ierr
			}
		case errors.Is(err, bufio.ErrBufferFull) || (len(line) > 0 && isData(line)):
			if isData(line) {
				f.firstData()
			}
			if derr := f.drain(); derr != nil {
				return derr
			}
			if f.create != nil {
				// A CREATE TABLE with a line too long to collect: as it is.
				if _, werr := f.w.Write(f.create); werr != nil {
					return werr
				}
				f.create = nil
			}
			// A long or data line: pass it through in pieces, untouched.
			if _, werr := f.w.Write(line); werr != nil {
				return werr
			}
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = f.read()
				if _, werr := f.w.Write(line); werr != nil {
					return werr
				}
			}
		case len(line) > 0:
			if derr := f.drain(); derr != nil {
				return derr
			}
			out, ferr := f.ddl(line)
			if ferr != nil {
				return ferr
			}
			if _, werr := f.w.Write(out); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return f.drain()
		}
		if err != nil {
			return err
		}
	}
}

func (f *loadFilter) firstData() {
	if !f.sawData {
		f.sawData = true
		if f.onData != nil {
			f.onData()
		}
	}
}

// drain waits for the rows of the table just loaded.
func (f *loadFilter) drain() error {
	if f.sink == nil || !f.inData {
		return nil
	}
	f.inData = false
	return f.sink.drain()
}

var (
	lockTablesRE = regexp.MustCompile(`^(LOCK TABLES |UNLOCK TABLES;)`)
	sessionSetRE = regexp.MustCompile(`^(/\*!\d+ )?SET `)
)

func (f *loadFilter) ddl(line []byte) ([]byte, error) {
	if d, ok := bytes.CutPrefix(line, []byte("DELIMITER ")); ok {
		f.delim = string(bytes.TrimSpace(d))
		if f.delim == ";" {
			f.delim = ""
		}
		return line, nil
	}
	if m := useRE.FindSubmatch(line); m != nil {
		name := string(m[1])
		if f.usedDB != "" && f.usedDB != name {
			return nil, fmt.Errorf("mysql: the dump holds more than one schema (%q and %q); envsync restores a dump of one schema", f.usedDB, name)
		}
		f.usedDB = name
		return nil, nil
	}
	if createDatabaseRE.Match(line) {
		return nil, nil
	}
	if f.keys != nil && f.delim == "" {
		if out, done := f.collectCreate(line); !done {
			return out, nil
		}
	}
	if f.sink != nil {
		// The client's table locks would shut the inserters out.
		if lockTablesRE.Match(line) {
			return nil, nil
		}
		// The inserters' sessions get the dump's settings.
		if !f.sawData && sessionSetRE.Match(line) {
			f.sink.setup = append(f.sink.setup, strings.TrimRight(strings.TrimSpace(string(line)), ";"))
		}
	}
	if bytes.Contains(line, []byte("DEFINER=")) {
		return stripDefiner(line), nil
	}
	return line, nil
}

// collectCreate gathers a CREATE TABLE statement and sends it on without
// its secondary keys, which the key builder adds back once the table's
// rows are in; at mysqldump's ENABLE KEYS line it starts that build. It
// returns done when line is not its business.
func (f *loadFilter) collectCreate(line []byte) (out []byte, done bool) {
	if f.create != nil {
		f.create = append(f.create, line...)
		if !endsStatement(line) {
			return nil, false
		}
		stmt, keys := splitKeys(f.create)
		if len(keys) > 0 {
			f.keys.deferKeys(f.createTable, keys)
		}
		f.create = nil
		return stmt, false
	}
	if m := createTableRE.FindSubmatch(bytes.TrimRight(line, "\r\n")); m != nil {
		f.create = append([]byte(nil), line...)
		f.createTable = strings.ReplaceAll(string(m[1]), "``", "`")
		return nil, false
	}
	if m := enableKeysRE.FindSubmatch(line); m != nil {
		f.keys.build(strings.ReplaceAll(string(m[1]), "``", "`"))
	}
	return nil, true
}
