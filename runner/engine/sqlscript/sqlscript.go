// Package sqlscript reads a sanitise or transform script the way the server
// will: it splits it into statements (strings, quoted names, comments and
// PostgreSQL's dollar quotes kept whole) and names each statement's first
// keyword, so that the runner can refuse, before any of it runs, a script
// that would end the transaction envsync runs it in. A statement that ends
// the transaction (COMMIT, ROLLBACK, END, ...) lets what came before it go
// live unchecked, or, after a ROLLBACK, lets the sanitising vanish while
// the run reports success.
//
// The reading fails closed: whatever it cannot tell apart (an executable
// comment, a client command) is refused rather than guessed.
package sqlscript

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Dialect is the server's lexical dialect.
type Dialect int

const (
	Postgres Dialect = iota
	MySQL
)

// Statement is one statement of a script.
type Statement struct {
	Text    string // as written from its first keyword, without its terminator
	Line    int    // the line of its first keyword, counted from 1
	Keyword string // its first keyword, upper case ("" for none)
	Second  string // the keyword after it, upper case
}

// Error is a script the reader refuses, at a line of the script.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Split cuts script into its statements, skipping empty ones.
func Split(script string, d Dialect) ([]Statement, error) {
	l := lexer{src: script, d: d, line: 1, delim: ";"}
	return l.run()
}

type lexer struct {
	src   string
	d     Dialect
	pos   int
	line  int
	delim string // MySQL's client may change it with DELIMITER

	stmts   []Statement
	start   int // where the current statement began
	words   []string
	first   int  // line of the first keyword
	textPos int  // where the statement's text starts: its first character not a space or a comment
	started bool // textPos is set
}

func (l *lexer) run() ([]Statement, error) {
	for l.pos < len(l.src) {
		if l.atLineStart() && l.d == MySQL {
			if handled, err := l.delimiterCommand(); err != nil {
				return nil, err
			} else if handled {
				continue
			}
		}
		if strings.HasPrefix(l.src[l.pos:], l.delim) {
			l.end()
			l.pos += len(l.delim)
			l.start = l.pos
			continue
		}
		c := l.src[l.pos]
		if !l.started && !unicode.IsSpace(rune(c)) && !l.atComment() {
			l.started, l.textPos = true, l.pos
		}
		switch {
		case c == '\n':
			l.line++
			l.pos++
		case c == '-' && strings.HasPrefix(l.src[l.pos:], "--") && l.dashComment():
			l.skipTo("\n")
		case c == '#' && l.d == MySQL:
			l.skipTo("\n")
		case c == '/' && strings.HasPrefix(l.src[l.pos:], "/*"):
			if err := l.blockComment(); err != nil {
				return nil, err
			}
		case c == '\'':
			if err := l.quoted('\'', l.d == MySQL || l.escapeString()); err != nil {
				return nil, err
			}
		case c == '"':
			if err := l.quoted('"', l.d == MySQL); err != nil {
				return nil, err
			}
		case c == '`' && l.d == MySQL:
			if err := l.quoted('`', false); err != nil {
				return nil, err
			}
		case c == '$' && l.d == Postgres && l.dollarQuote():
		case c == '\\' && l.d == MySQL:
			return nil, &Error{l.line, fmt.Sprintf("%q is a command of the mysql client, not SQL: scripts run without the client, and a client command (\\! runs a shell) is never allowed", l.src[l.pos:min(l.pos+2, len(l.src))])}
		case isWordStart(c):
			if len(l.words) == 0 {
				l.first = l.line
			}
			w := l.word()
			if len(l.words) < 2 {
				l.words = append(l.words, strings.ToUpper(w))
			}
		default:
			l.pos++
		}
	}
	l.end()
	return l.stmts, nil
}

// atComment says whether a comment starts at pos.
func (l *lexer) atComment() bool {
	rest := l.src[l.pos:]
	return strings.HasPrefix(rest, "/*") || (strings.HasPrefix(rest, "--") && l.dashComment()) || (l.d == MySQL && rest[0] == '#')
}

func (l *lexer) atLineStart() bool { return l.pos == 0 || l.src[l.pos-1] == '\n' }

// delimiterCommand handles the mysql client's DELIMITER line, which
// scripts with triggers or procedures use.
func (l *lexer) delimiterCommand() (bool, error) {
	rest := l.src[l.pos:]
	lineEnd := strings.IndexByte(rest, '\n')
	if lineEnd < 0 {
		lineEnd = len(rest)
	}
	fields := strings.Fields(rest[:lineEnd])
	if len(fields) == 0 || !strings.EqualFold(fields[0], "DELIMITER") || len(l.words) > 0 {
		return false, nil
	}
	if len(fields) != 2 {
		return false, &Error{l.line, "DELIMITER takes one delimiter"}
	}
	l.delim = fields[1]
	l.pos += lineEnd
	l.start = l.pos
	return true, nil
}

// end closes the statement that runs to the current position.
func (l *lexer) end() {
	if len(l.words) > 0 {
		text := strings.TrimSpace(l.src[l.textPos:l.pos])
		s := Statement{Text: text, Line: l.first, Keyword: l.words[0]}
		if len(l.words) > 1 {
			s.Second = l.words[1]
		}
		l.stmts = append(l.stmts, s)
	}
	l.words, l.started = l.words[:0], false
}

// dashComment tells whether "--" starts a comment: always in PostgreSQL,
// only before a space or the end of a line in MySQL (1--1 is arithmetic).
func (l *lexer) dashComment() bool {
	if l.d == Postgres {
		return true
	}
	if l.pos+2 >= len(l.src) {
		return true
	}
	c := l.src[l.pos+2]
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func (l *lexer) skipTo(s string) {
	i := strings.Index(l.src[l.pos:], s)
	if i < 0 {
		l.pos = len(l.src)
		return
	}
	l.pos += i // the newline itself is counted by the main loop
}

// blockComment skips /* ... */, nested in PostgreSQL. MySQL runs the text
// of /*! ... */ and MariaDB of /*M! ... */: such a comment is refused.
func (l *lexer) blockComment() error {
	startLine := l.line
	if l.d == MySQL && (strings.HasPrefix(l.src[l.pos:], "/*!") || strings.HasPrefix(l.src[l.pos:], "/*M!")) {
		return &Error{startLine, "an executable comment (/*! ... */) runs as SQL; write the statement itself"}
	}
	depth := 0
	for l.pos < len(l.src) {
		switch {
		case strings.HasPrefix(l.src[l.pos:], "/*"):
			if depth == 0 || l.d == Postgres {
				depth++
			}
			l.pos += 2
		case strings.HasPrefix(l.src[l.pos:], "*/"):
			depth--
			l.pos += 2
			if depth == 0 {
				return nil
			}
		default:
			if l.src[l.pos] == '\n' {
				l.line++
			}
			l.pos++
		}
	}
	return &Error{startLine, "a comment is not closed"}
}

// escapeString tells whether the ' at pos opens a PostgreSQL E'...'
// string, where a backslash escapes the next character.
func (l *lexer) escapeString() bool {
	if l.pos == 0 || (l.src[l.pos-1] != 'E' && l.src[l.pos-1] != 'e') {
		return false
	}
	return l.pos < 2 || !isWordChar(l.src[l.pos-2])
}

// quoted skips a string or quoted name opened by q at pos: a doubled q
// stands for itself, and where backslash escapes, \q too.
func (l *lexer) quoted(q byte, backslash bool) error {
	startLine := l.line
	l.pos++
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\\' && backslash:
			if l.pos+1 < len(l.src) && l.src[l.pos+1] == '\n' {
				l.line++
			}
			l.pos += 2
			continue
		case c == q:
			if l.pos+1 < len(l.src) && l.src[l.pos+1] == q {
				l.pos += 2
				continue
			}
			l.pos++
			return nil
		case c == '\n':
			l.line++
		}
		l.pos++
	}
	return &Error{startLine, fmt.Sprintf("a %c-quoted string or name is not closed", q)}
}

// dollarQuote skips a PostgreSQL $tag$ ... $tag$ string when pos opens
// one; $1 (a parameter) and a$b (a name) do not.
func (l *lexer) dollarQuote() bool {
	if l.pos > 0 && isWordChar(l.src[l.pos-1]) {
		return false
	}
	rest := l.src[l.pos+1:]
	i := 0
	for i < len(rest) && rest[i] != '$' {
		if !isWordChar(rest[i]) || (i == 0 && rest[i] >= '0' && rest[i] <= '9') {
			return false
		}
		i++
	}
	if i == len(rest) {
		return false
	}
	tag := l.src[l.pos : l.pos+i+2]
	body := l.src[l.pos+len(tag):]
	j := strings.Index(body, tag)
	if j < 0 {
		// Unclosed: let the server say so; count lines to the end.
		l.line += strings.Count(body, "\n")
		l.pos = len(l.src)
		return true
	}
	l.line += strings.Count(body[:j], "\n")
	l.pos += len(tag) + j + len(tag)
	return true
}

func (l *lexer) word() string {
	start := l.pos
	for l.pos < len(l.src) && isWordChar(l.src[l.pos]) {
		l.pos++
	}
	return l.src[start:l.pos]
}

func isWordStart(c byte) bool {
	return c == '_' || c >= 0x80 || unicode.IsLetter(rune(c))
}

func isWordChar(c byte) bool {
	return isWordStart(c) || (c >= '0' && c <= '9') || c == '$'
}

// EndsTransaction says why s, run inside the transaction envsync opened,
// would end it, roll part of it back or take it out of envsync's hands;
// "" when it would not. Such a statement is refused before anything runs.
func EndsTransaction(s Statement, d Dialect) string {
	switch s.Keyword {
	case "BEGIN", "START":
		return "it starts a transaction of its own"
	case "COMMIT", "END":
		return "it commits the transaction it runs in"
	case "ROLLBACK", "ABORT":
		return "it rolls back the transaction it runs in"
	case "SAVEPOINT", "RELEASE":
		return "it uses a savepoint, with which a failed statement can be rolled back and the script go on"
	case "PREPARE":
		if s.Second == "TRANSACTION" {
			return "it prepares the transaction for a two-phase commit"
		}
	}
	if d != MySQL {
		return ""
	}
	switch s.Keyword {
	case "XA":
		return "it starts or ends an XA transaction"
	case "LOCK", "UNLOCK":
		return "LOCK TABLES and UNLOCK TABLES commit the transaction they run in"
	case "CALL":
		return "a stored procedure may commit or roll back; write its statements in the script"
	case "SET":
		lower := strings.ToLower(s.Text)
		if strings.Contains(lower, "autocommit") || strings.Contains(lower, "completion_type") {
			return "changing autocommit or completion_type commits or changes how the transaction ends"
		}
	}
	return ""
}

// CommitsImplicitly tells whether MySQL commits the open transaction
// before running s (DDL, account and administrative statements): what ran
// before it is then committed whatever follows.
func CommitsImplicitly(s Statement) bool {
	switch s.Keyword {
	case "ALTER", "DROP", "RENAME", "TRUNCATE", "GRANT", "REVOKE",
		"ANALYZE", "CACHE", "CHECK", "FLUSH", "OPTIMIZE", "REPAIR", "RESET",
		"CHANGE", "STOP", "INSTALL", "UNINSTALL":
		return true
	case "CREATE":
		return s.Second != "TEMPORARY"
	case "LOAD":
		return s.Second == "INDEX"
	case "SET":
		return s.Second == "PASSWORD"
	}
	return false
}

// Check reads script and returns an *Error for its first statement that
// would end the transaction envsync runs it in; with live set (a transform
// of the live database), MySQL's statements that commit implicitly too,
// since what ran before them would be live whatever fails after.
func Check(script string, d Dialect, live bool) error {
	stmts, err := Split(script, d)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if why := EndsTransaction(s, d); why != "" {
			return &Error{s.Line, fmt.Sprintf("%s: %s; envsync runs a script in one transaction and commits it itself once the script has run whole", s.Keyword, why)}
		}
		if d == MySQL && live && CommitsImplicitly(s) {
			return &Error{s.Line, fmt.Sprintf("%s %s: MySQL commits before it, so a transform of the live schema could not be undone; change the schema in a sanitise script (it runs on the shadow) or in the application's migrations", s.Keyword, s.Second)}
		}
	}
	return nil
}

// Target is what a statement changes, where a plain reading can tell: the
// table of an UPDATE, DELETE or TRUNCATE, and the columns an UPDATE sets.
type Target struct {
	Table   string // as written, unquoted ("schema.table" when qualified)
	Columns []string
}

// Targets reads what s changes; false for other statements or a shape it
// does not follow (UPDATE ONLY, several tables, a FROM list it cannot
// separate are still read for the table alone).
func Targets(s Statement) (Target, bool) {
	words := fields(s.Text)
	if len(words) < 2 {
		return Target{}, false
	}
	i := 1
	switch s.Keyword {
	case "UPDATE":
	case "DELETE":
		if !strings.EqualFold(words[1], "FROM") || len(words) < 3 {
			return Target{}, false
		}
		i = 2
	case "TRUNCATE":
		if strings.EqualFold(words[1], "TABLE") {
			i = 2
		}
	default:
		return Target{}, false
	}
	if i < len(words) && strings.EqualFold(words[i], "ONLY") {
		i++
	}
	if i >= len(words) || strings.HasSuffix(words[i], ",") {
		return Target{}, false
	}
	t := Target{Table: unquote(words[i])}
	if s.Keyword != "UPDATE" {
		return t, true
	}
	// SET a = ..., b = ...: the names before each top-level "=".
	set := setKeyword.FindStringIndex(s.Text)
	if set == nil {
		return t, true
	}
	for _, item := range topLevel(s.Text[set[1]:]) {
		name, _, ok := strings.Cut(item, "=")
		if !ok {
			break
		}
		name = strings.TrimSpace(name)
		if j := strings.LastIndexByte(name, '.'); j >= 0 {
			name = name[j+1:] // t.col
		}
		if name == "" || strings.ContainsAny(name, " ()") {
			break // (a, b) = (...) and the like: not read
		}
		t.Columns = append(t.Columns, unquote(name))
	}
	return t, true
}

var setKeyword = regexp.MustCompile(`(?i)\sSET\s`)

// fields splits a statement at spaces outside quotes.
func fields(s string) []string {
	var out []string
	var b strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			b.WriteByte(c)
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '`' || c == '\'':
			quote = c
			b.WriteByte(c)
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// topLevel splits the SET list at commas outside parentheses and quotes,
// up to the first top-level WHERE, FROM or RETURNING.
func topLevel(s string) []string {
	var out []string
	depth, start, quote := 0, 0, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		case depth == 0 && (c == ' ' || c == '\n' || c == '\t'):
			rest := strings.ToUpper(strings.TrimLeft(s[i:], " \n\t"))
			for _, kw := range []string{"WHERE ", "WHERE\n", "FROM ", "FROM\n", "RETURNING "} {
				if strings.HasPrefix(rest, kw) {
					return append(out, s[start:i])
				}
			}
		}
	}
	return append(out, s[start:])
}

func unquote(name string) string {
	var parts []string
	for _, p := range strings.Split(strings.TrimSuffix(name, ";"), ".") {
		parts = append(parts, strings.Trim(p, "\"`"))
	}
	return strings.Join(parts, ".")
}
