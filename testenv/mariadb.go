package testenv

import (
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDB is a MariaDB server started for one test, with a user that logs in
// with a password over TCP, as the runner does in production.
type MariaDB struct {
	Host     string
	Port     int
	User     string
	Password string
	Dir      string // data, socket, pid and logs
	Process  *Process
	admin    *sql.DB
}

// MariaDBPassword is the test user's password: odd characters on purpose,
// so that quoting in option files and DSNs is exercised.
const MariaDBPassword = `s3cr3t-"pw'#;\x`

// StartMariaDB initialises a data directory with mariadb-install-db and
// runs mariadbd on a free loopback port until the test ends. extraArgs are
// added to mariadbd's (a benchmark's larger buffer pool).
func StartMariaDB(t T, extraArgs ...string) *MariaDB {
	t.Helper()
	return StartMariaDBWith(t, MariaDBOptions{ExtraArgs: extraArgs})
}

// MariaDBOptions change how a test server is started.
type MariaDBOptions struct {
	ExtraArgs []string // added to mariadbd's
	// TLS, when set, serves TLS with this certificate.
	TLS *ServerCert
	// RequireTLS refuses TCP sessions without TLS (require_secure_transport),
	// as RDS can: on such a server, a run that succeeds was encrypted on
	// every session.
	RequireTLS bool
}

// StartMariaDBWith starts a server with opts.
func StartMariaDBWith(t T, opts MariaDBOptions) *MariaDB {
	t.Helper()
	extraArgs := opts.ExtraArgs
	if opts.TLS != nil {
		extraArgs = append(extraArgs, "--ssl-cert="+opts.TLS.CertFile, "--ssl-key="+opts.TLS.KeyFile, "--ssl-ca="+opts.TLS.CA.CertFile)
	}
	if opts.RequireTLS {
		extraArgs = append(extraArgs, "--require-secure-transport=ON")
	}
	const hint = "apt-get install mariadb-server mariadb-client"
	installDB := LookPath(t, "mariadb-install-db", hint, "/usr/bin", "/usr/sbin")
	mariadbd := LookPath(t, "mariadbd", hint, "/usr/sbin")
	dir := TempDir(t, nil)
	data := filepath.Join(dir, "data")
	var asRoot []string
	if os.Geteuid() == 0 {
		// CI runs as root; mariadbd refuses that unless told.
		asRoot = []string{"--user=root"}
	}
	// Its own tmpdir: two packages' tests bootstrap at once, and the
	// bootstrap's temporary tables must not meet in a shared /tmp.
	install := exec.Command(installDB, append([]string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
		"--tmpdir=" + dir}, asRoot...)...)
	install.Env = append(os.Environ(), "TMPDIR="+dir)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("testenv: mariadb-install-db: %v\n%s", err, out)
	}
	port := FreePort(t)
	socket := filepath.Join(dir, "mysqld.sock")
	args := append([]string{"--no-defaults", "--datadir=" + data,
		"--bind-address=127.0.0.1", "--port=" + strconv.Itoa(port),
		"--socket=" + socket, "--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--skip-name-resolve", "--tmpdir=" + dir,
		"--innodb-buffer-pool-size=256M", "--innodb-log-file-size=256M",
		"--innodb-flush-log-at-trx-commit=2", "--max-allowed-packet=256M",
		"--event-scheduler=OFF",
	}, asRoot...)
	args = append(args, extraArgs...)
	p := Start(t, "mariadbd", exec.Command(mariadbd, args...))
	WaitTCP(t, p, fmt.Sprintf("127.0.0.1:%d", port), 60*time.Second)

	// root logs in through the socket with no password; it creates the
	// user the tests and the runner use over TCP.
	rc := mysql.NewConfig()
	rc.User, rc.Net, rc.Addr = "root", "unix", socket
	rc.MultiStatements = true
	conn, err := mysql.NewConnector(rc)
	mustf(t, err, "mariadb root connector")
	admin := sql.OpenDB(conn)
	t.Cleanup(func() { admin.Close() })
	// The TCP port opens a moment before the socket accepts.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := admin.Ping()
		if err == nil {
			break
		}
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("testenv: mariadbd not answering on %s: %v\n%s", socket, err, tail(p.Log, 40))
		}
	}
	m := &MariaDB{Host: "127.0.0.1", Port: port, User: "envsync", Password: MariaDBPassword, Dir: dir, Process: p, admin: admin}
	// The runner's user has what a schema owner has, not SUPER: a DEFINER
	// of someone else must not be needed to restore.
	_, err = admin.Exec(fmt.Sprintf(`CREATE USER 'envsync'@'%%' IDENTIFIED BY '%s';
		GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES,
		  LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER,
		  PROCESS, RELOAD, REFERENCES ON *.* TO 'envsync'@'%%'`, strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(m.Password)))
	mustf(t, err, "creating the envsync user")
	return m
}

// Root is a root connection (socket, no password), for setting up data.
func (m *MariaDB) Root() *sql.DB { return m.admin }

// DB connects as the test user over TCP, with schema as the default (may be
// empty), allowing several statements per Exec.
func (m *MariaDB) DB(t T, schema string) *sql.DB {
	t.Helper()
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = m.User, m.Password, "tcp", fmt.Sprintf("%s:%d", m.Host, m.Port), schema
	c.MultiStatements = true
	// TLS when the server offers it: a server may require it.
	c.TLS, c.AllowFallbackToPlaintext = &tls.Config{InsecureSkipVerify: true}, true
	c.Apply(mysql.Charset("utf8mb4", ""))
	conn, err := mysql.NewConnector(c)
	mustf(t, err, "mariadb connector")
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs a script (several statements) in schema as root.
func (m *MariaDB) Exec(t T, schema, script string) {
	t.Helper()
	conn, err := m.admin.Conn(t.Context())
	mustf(t, err, "mariadb connection")
	defer conn.Close()
	if schema != "" {
		_, err = conn.ExecContext(t.Context(), "USE `"+schema+"`")
		mustf(t, err, "USE %s", schema)
	}
	_, err = conn.ExecContext(t.Context(), script)
	mustf(t, err, "running SQL in %s", schema)
}

// SchemaExists says whether schema exists.
func (m *MariaDB) SchemaExists(t T, schema string) bool {
	t.Helper()
	var n int
	err := m.admin.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", schema).Scan(&n)
	mustf(t, err, "looking for schema %s", schema)
	return n > 0
}

// Schemas lists the schemas that are not the server's own.
func (m *MariaDB) Schemas(t T) []string {
	t.Helper()
	return m.strings(t, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql','information_schema','performance_schema','sys') ORDER BY 1")
}

func (m *MariaDB) strings(t T, q string, args ...any) []string {
	t.Helper()
	rows, err := m.admin.Query(q, args...)
	mustf(t, err, "%s", q)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		mustf(t, rows.Scan(&s), "%s", q)
		out = append(out, s.String)
	}
	mustf(t, rows.Err(), "%s", q)
	return out
}

// Tables lists schema's base tables.
func (m *MariaDB) Tables(t T, schema string) []string {
	t.Helper()
	return m.strings(t, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1", schema)
}

// Views lists schema's views as "name: definition".
func (m *MariaDB) Views(t T, schema string) []string {
	t.Helper()
	return m.strings(t, "SELECT CONCAT(TABLE_NAME, ': ', VIEW_DEFINITION) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", schema)
}

// Triggers lists schema's triggers as "name: timing event ON table: body".
func (m *MariaDB) Triggers(t T, schema string) []string {
	t.Helper()
	return m.strings(t, "SELECT CONCAT(TRIGGER_NAME, ': ', ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ON ', EVENT_OBJECT_TABLE, ': ', ACTION_STATEMENT) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME", schema)
}

// Routines lists schema's functions and procedures as "type name: body".
func (m *MariaDB) Routines(t T, schema string) []string {
	t.Helper()
	return m.strings(t, "SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME, ': ', ROUTINE_DEFINITION) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME", schema)
}

// Events lists schema's events as "name: body".
func (m *MariaDB) Events(t T, schema string) []string {
	t.Helper()
	return m.strings(t, "SELECT CONCAT(EVENT_NAME, ': ', EVENT_DEFINITION) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME", schema)
}

// Checksums is, per base table of schema, the row count and a SHA-256 of
// every row in primary-key (else all-column) order, NULLs told apart from
// empty strings.
func (m *MariaDB) Checksums(t T, schema string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range m.Tables(t, schema) {
		q := "`" + schema + "`.`" + table + "`"
		rows, err := m.admin.Query("SELECT * FROM " + q)
		mustf(t, err, "reading %s", q)
		cols, _ := rows.Columns()
		var lines []string
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			mustf(t, rows.Scan(ptrs...), "reading %s", q)
			var b strings.Builder
			for _, v := range vals {
				if v == nil {
					b.WriteString("\\N|")
				} else {
					b.WriteString(hex.EncodeToString(v) + "|")
				}
			}
			lines = append(lines, b.String())
		}
		rows.Close()
		sort.Strings(lines)
		h := sha256.New()
		for _, l := range lines {
			h.Write([]byte(l + "\n"))
		}
		out[table] = fmt.Sprintf("%d rows %x", len(lines), h.Sum(nil))
	}
	return out
}
