// Package pgscript runs the plain-text script that `pg_restore --file=-`
// writes, as `psql -v ON_ERROR_STOP=1` would, except that the rows of each
// table's COPY are spread over several sessions of the database at once: one
// server process parses and writes one session's rows, so a single session
// leaves the server's other cores idle for the whole data section.
//
// The script is not parsed as SQL. pg_restore writes each table's data as
//
//	-- Data for Name: t; Type: TABLE DATA; Schema: s; Owner: o
//	--
//
//	COPY s.t (a, b) FROM stdin;
//	<rows, one per line, newlines inside values escaped>
//	\.
//
// and only a COPY line that follows such a header starts data. Everything
// between two COPYs is sent as one multi-statement query on the first
// session. Text that merely looks like a header (inside a function's body,
// say) would split a statement, which the server refuses: a misreading
// fails the load, it never loads something else.
package pgscript

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"
)

// ChunkBytes is how many bytes of whole rows go to one session at a time: big
// enough that a chunk costs one message per 64 KiB and no more round trips,
// small enough that every session of a 10 MB table gets some.
const ChunkBytes = 1 << 20

// batchBytes is the size past which the statements between two COPYs are
// sent at the next entry's header rather than all at once.
const batchBytes = 1 << 20

// Run executes the script read from r. sessions[0] runs the statements in
// order; each COPY's rows go, in chunks of whole rows, to as many sessions
// as the table has chunks, and every session's COPY completes before the
// next statement runs. It returns at the first error; the database is then
// half-loaded and is the caller's to drop.
func Run(ctx context.Context, r io.Reader, sessions []*pgconn.PgConn) error {
	if len(sessions) == 0 {
		return errors.New("pgscript: no session")
	}
	l := &loader{
		ctx:      ctx,
		in:       bufio.NewReaderSize(r, 1<<20),
		sessions: sessions,
		prepared: make([]bool, len(sessions)),
		paths:    make([]string, len(sessions)),
		free:     make(chan []byte, 3*len(sessions)+1),
	}
	return l.run()
}

type loader struct {
	ctx      context.Context
	in       *bufio.Reader
	sessions []*pgconn.PgConn
	line     int // lines of the script read so far

	// preamble is the script's settings before its first entry (client
	// encoding, search path, ...), run on every other session before its
	// first COPY; prepared says which sessions have run it.
	preamble   strings.Builder
	inPreamble bool
	prepared   []bool
	// searchPath is sessions[0]'s after the last statements that named
	// it; paths is each other session's, so that a COPY naming its table
	// unqualified (archives of old pg_dumps) finds it on every session.
	searchPath string
	paths      []string

	// restrict is the key of pg_restore's `\restrict` line, whose
	// `\unrestrict` twin ends the script.
	restrict string

	batch     strings.Builder
	batchLine int    // the script's line where the batch starts
	marks     []mark // where each entry of the batch starts

	free chan []byte // chunk buffers to reuse
}

// mark is an entry's header and where its text starts in the batch.
type mark struct {
	offset int    // bytes into the batch
	header string // "Name: t; Type: TABLE; Schema: s; Owner: -"
}

func (l *loader) run() error {
	l.inPreamble = true
	var prev, header string
	for {
		text, err := l.in.ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading pg_restore's script: %w", err)
		}
		if text == "" {
			return l.flush()
		}
		l.line++
		switch {
		case l.restrict == "" && l.inPreamble && strings.HasPrefix(text, `\restrict `):
			// psql's guard against a dump that smuggles meta-commands;
			// nothing here runs meta-commands.
			l.restrict = strings.TrimSpace(strings.TrimPrefix(text, `\restrict `))
			continue
		case l.restrict != "" && strings.TrimSpace(text) == `\unrestrict `+l.restrict:
			continue
		}
		if prev == "--\n" && isHeader(text) {
			l.inPreamble = false
			header = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(text, "-- Data for "), "-- "))
			if l.batch.Len() >= batchBytes {
				if err := l.flush(); err != nil {
					return err
				}
			}
			l.marks = append(l.marks, mark{offset: l.batch.Len(), header: header})
		}
		if l.inPreamble {
			l.preamble.WriteString(text)
		}
		if entryType(header) == "TABLE DATA" && strings.HasPrefix(text, "COPY ") && strings.HasSuffix(text, " FROM stdin;\n") {
			if err := l.flush(); err != nil {
				return err
			}
			if err := l.copy(strings.TrimSuffix(text, "\n"), header); err != nil {
				return err
			}
			header, prev = "", ""
			continue
		}
		if l.batch.Len() == 0 {
			l.batchLine = l.line
		}
		l.batch.WriteString(text)
		prev = text
	}
}

// isHeader says whether line is the middle line of pg_restore's header of
// an entry.
func isHeader(line string) bool {
	return (strings.HasPrefix(line, "-- Name: ") || strings.HasPrefix(line, "-- Data for Name: ")) &&
		strings.Contains(line, "; Type: ")
}

// entryName is a header without its owner.
func entryName(header string) string {
	name, _, _ := strings.Cut(header, "; Owner: ")
	return name
}

// entryType is the Type of a header: "TABLE DATA", "INDEX", ...
func entryType(header string) string {
	_, rest, ok := strings.Cut(header, "; Type: ")
	if !ok {
		return ""
	}
	typ, _, _ := strings.Cut(rest, ";")
	return typ
}

// flush runs the statements read since the last COPY on the first session,
// as one query: the server runs them in order and stops at the first error.
func (l *loader) flush() error {
	defer func() {
		l.batch.Reset()
		l.marks = l.marks[:0]
	}()
	sql := l.batch.String()
	if strings.TrimSpace(sql) == "" {
		return nil
	}
	if _, err := l.sessions[0].Exec(l.ctx, sql).ReadAll(); err != nil {
		return l.statementError(sql, err)
	}
	if strings.Contains(sql, "search_path") && len(l.sessions) > 1 {
		res := l.sessions[0].ExecParams(l.ctx, "SELECT current_setting('search_path')", nil, nil, nil, nil).Read()
		if res.Err != nil {
			return fmt.Errorf("reading the search path: %w", res.Err)
		}
		if len(res.Rows) == 1 {
			l.searchPath = string(res.Rows[0][0])
		}
	}
	return nil
}

// statementError names the entry and the script's line where the server
// found the error, when it says where (syntax errors do); else the lines of
// the statements it was running.
func (l *loader) statementError(sql string, err error) error {
	offset, ok := ErrorOffset(sql, err)
	if !ok {
		last := l.batchLine + strings.Count(strings.TrimSuffix(sql, "\n"), "\n")
		return fmt.Errorf("lines %d-%d of pg_restore's script: %w", l.batchLine, last, err)
	}
	where := fmt.Sprintf("line %d of pg_restore's script", l.batchLine+strings.Count(sql[:offset], "\n"))
	for i := len(l.marks) - 1; i >= 0; i-- {
		if l.marks[i].offset <= offset {
			where = entryName(l.marks[i].header) + ", " + where
			break
		}
	}
	return fmt.Errorf("%s: %w", where, err)
}

// ErrorOffset is where in sql, in bytes, the server says err arose, when
// it says (syntax errors do): PostgreSQL counts characters from 1.
func ErrorOffset(sql string, err error) (int, bool) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Position <= 0 {
		return 0, false
	}
	chars := int(pgErr.Position) - 1
	for i := range sql {
		if chars == 0 {
			return i, true
		}
		chars--
	}
	return len(sql), true
}

// copy loads the rows that follow stmt, up to the line `\.`, spreading
// them over the sessions in chunks of whole rows, in turn: chunk i goes to
// session i mod n, so a table of k chunks is loaded by min(k, n) sessions.
// Rows that end before their `\.` fail every session's COPY, which then
// loads nothing.
func (l *loader) copy(stmt, header string) error {
	ctx, abort := context.WithCancelCause(l.ctx)
	defer abort(nil)
	g, ctx := errgroup.WithContext(ctx)
	var queues []chan []byte
	sent := 0
	send := func(chunk []byte) error {
		i := sent % len(l.sessions)
		if i == len(queues) {
			if err := l.prepare(i); err != nil {
				return err
			}
			queue := make(chan []byte, 1)
			queues = append(queues, queue)
			g.Go(func() error {
				_, err := l.sessions[i].CopyFrom(ctx, &chunkReader{ctx: ctx, chunks: queue, free: l.free}, stmt)
				return err
			})
		}
		sent++
		select {
		case queues[i] <- chunk:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	readErr := l.rows(send)
	if readErr != nil {
		abort(readErr)
	}
	for _, q := range queues {
		close(q)
	}
	copyErr := g.Wait()
	switch {
	case readErr != nil:
		return fmt.Errorf("loading the rows of %s: %w", entryName(header), readErr)
	case copyErr != nil:
		return fmt.Errorf("loading the rows of %s: %w", entryName(header), copyErr)
	}
	return nil
}

// prepare gives session i the script's settings before its first COPY.
func (l *loader) prepare(i int) error {
	if i == 0 {
		return nil
	}
	if !l.prepared[i] {
		if _, err := l.sessions[i].Exec(l.ctx, l.preamble.String()).ReadAll(); err != nil {
			return fmt.Errorf("giving a loading session the script's settings: %w", err)
		}
		l.prepared[i] = true
	}
	if l.paths[i] != l.searchPath {
		res := l.sessions[i].ExecParams(l.ctx, "SELECT pg_catalog.set_config('search_path', $1, false)",
			[][]byte{[]byte(l.searchPath)}, nil, nil, nil).Read()
		if res.Err != nil {
			return fmt.Errorf("giving a loading session the search path: %w", res.Err)
		}
		l.paths[i] = l.searchPath
	}
	return nil
}

var endOfData = []byte("\\.\n")

// rows reads the COPY data up to and without the line `\.`, and hands it
// to send in chunks of whole rows of about ChunkBytes. In COPY's text
// format a newline inside a value is written `\n`, so every newline ends a
// row and `\.` alone on a line can only be the end.
func (l *loader) rows(send func([]byte) error) error {
	chunk := l.buffer()
	atLineStart := true
	for {
		// At least 4 bytes, so that `\.` and its newline are seen whole.
		avail, err := l.in.Peek(max(l.in.Buffered(), len(endOfData)+1))
		if atLineStart && bytes.HasPrefix(avail, endOfData) {
			l.in.Discard(len(endOfData))
			l.line++
			if len(chunk) > 0 {
				return send(chunk)
			}
			return nil
		}
		if err != nil && len(avail) == 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("the script ends inside the table's rows: %w", err)
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("reading pg_restore's script: %w", err)
		}
		take := avail
		if i := bytes.Index(avail, []byte("\n\\.\n")); i >= 0 {
			take = avail[:i+1]
		} else if i := bytes.LastIndexByte(avail, '\n'); i >= 0 {
			take = avail[:i+1]
		} else if errors.Is(err, io.EOF) {
			return fmt.Errorf("the script ends inside the table's rows: %w", io.ErrUnexpectedEOF)
		}
		chunk = append(chunk, take...)
		l.in.Discard(len(take))
		atLineStart = take[len(take)-1] == '\n'
		l.line += bytes.Count(take, []byte{'\n'})
		if atLineStart && len(chunk) >= ChunkBytes {
			if err := send(chunk); err != nil {
				return err
			}
			chunk = l.buffer()
		}
	}
}

// buffer is an empty chunk buffer, reused when one is free.
func (l *loader) buffer() []byte {
	select {
	case b := <-l.free:
		return b[:0]
	default:
		return make([]byte, 0, 2*ChunkBytes) // a chunk is sent once past ChunkBytes: up to one read more
	}
}

// chunkReader is one session's COPY input: the chunks of its queue, one
// after the other, until the queue is closed.
type chunkReader struct {
	ctx    context.Context
	chunks <-chan []byte
	free   chan<- []byte
	buf    []byte // the chunk being read, to give back when done
	rest   []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.rest) == 0 {
		if c.buf != nil {
			select {
			case c.free <- c.buf:
			default:
			}
			c.buf = nil
		}
		select {
		case b, ok := <-c.chunks:
			if !ok {
				// An aborted load ends with an error, never with EOF,
				// which would commit the rows sent so far.
				if err := context.Cause(c.ctx); err != nil {
					return 0, err
				}
				return 0, io.EOF
			}
			c.buf, c.rest = b, b
		case <-c.ctx.Done():
			return 0, context.Cause(c.ctx)
		}
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}
