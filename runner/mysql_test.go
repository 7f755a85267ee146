package runner_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/envsync/envsync/runner/compress"
	"github.com/envsync/envsync/runner/engine/mysql"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/testenv"
)

// Whole operations on MySQL: the envsync binary (a test build that can
// pause at named points, -tags envsynctest) run with the docs/contracts.md
// environment against real MariaDB, versitygw and a Pushgateway.

const (
	myInstance = "whitehall-mysql"
	myDatabase = "whitehall_production"
)

// myEstate is one MySQL sync's world: the source and target servers, the
// bucket and the Pushgateway.
type myEstate struct {
	src, dst *testenv.MariaDB
	s3       *testenv.S3Server
	bucket   string
	pg       *testenv.Pushgateway
}

func newMyEstate(t *testing.T) *myEstate {
	return newMyEstateOn(t, testenv.StartMariaDB(t), testenv.StartMariaDB(t))
}

// newMyEstateOn is newMyEstate on servers the test started.
func newMyEstateOn(t *testing.T, src, dst *testenv.MariaDB) *myEstate {
	e := &myEstate{src: src, dst: dst, s3: testenv.StartS3(t), pg: testenv.StartPushgateway(t)}
	e.bucket = e.s3.CreateBucket(t, "mysql-backups")
	for _, m := range []*testenv.MariaDB{e.src, e.dst} {
		m.Exec(t, "", "CREATE DATABASE "+myDatabase+" CHARACTER SET utf8mb4")
	}
	e.src.Exec(t, myDatabase, `CREATE TABLE editions (id INT PRIMARY KEY AUTO_INCREMENT, title VARCHAR(200), `+"`state` VARCHAR(20), `order` INT"+`, body MEDIUMTEXT, attachment LONGBLOB) ENGINE=InnoDB;
		CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(100), email VARCHAR(200)) ENGINE=InnoDB;
		CREATE TABLE authorships (edition_id INT, user_id INT, PRIMARY KEY (edition_id, user_id), FOREIGN KEY (user_id) REFERENCES users(id)) ENGINE=InnoDB;
		INSERT INTO users VALUES (1, 'Ada', 'ada@example.gov.uk'), (2, 'Brian', 'brian@example.gov.uk');
		INSERT INTO editions (title, state, `+"`order`"+`, body, attachment) VALUES ('Budget', 'published', 1, REPEAT('lorem ', 2000), 0xDEADBEEF00), ('Draft', 'draft', 2, NULL, NULL), ('Caf\u00e9 \U0001F600', 'draft', 3, '', '');
		INSERT INTO editions (title, state, `+"`order`"+`, body) SELECT CONCAT(title, id), state, `+"`order`"+`, body FROM editions;
		INSERT INTO authorships VALUES (1, 1), (2, 2), (3, 1);
		CREATE VIEW published AS SELECT e.id, e.title, u.name FROM editions e JOIN authorships a ON a.edition_id = e.id JOIN users u ON u.id = a.user_id WHERE e.state = 'published';
		CREATE TRIGGER editions_bu BEFORE UPDATE ON editions FOR EACH ROW SET NEW.title = TRIM(NEW.title);
		CREATE PROCEDURE publish(IN eid INT) UPDATE editions SET state = 'published' WHERE id = eid;`)
	// The target's live copy differs, so that a swap shows.
	e.dst.Exec(t, myDatabase, `CREATE TABLE editions (id INT PRIMARY KEY, title VARCHAR(200)); INSERT INTO editions VALUES (1, 'staging only');
		CREATE TABLE legacy (id INT); CREATE VIEW old_view AS SELECT id FROM legacy;`)
	return e
}

func (e *myEstate) env(t *testing.T, m *testenv.MariaDB, extra ...string) []string {
	env := append(os.Environ(), e.s3.Env()...)
	env = append(env,
		"DB_ENGINE=mysql", "DB_HOST="+m.Host, "DB_PORT="+strconv.Itoa(m.Port),
		"DB_USER="+m.User, "DB_PASSWORD="+m.Password, "DB_DATABASE="+myDatabase,
		"DB_INSTANCE="+myInstance, "BUCKET="+e.s3.URL(e.bucket), "ENVIRONMENT=staging",
		"PROMETHEUS_PUSHGATEWAY_URL="+e.pg.URL, "HOSTNAME=whitehall-sync-abc12",
	)
	return append(env, extra...)
}

// start runs envsync run <op> in the background; it is killed when the
// test ends.
func (e *myEstate) start(t *testing.T, m *testenv.MariaDB, op string, extra ...string) *envsyncRun {
	t.Helper()
	cmd := exec.Command(envsyncBinary(t), "run", op)
	cmd.Env = e.env(t, m, extra...)
	run := &envsyncRun{cmd: cmd, logs: &syncedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = run.logs, run.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { run.done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return run
}

// run runs envsync run <op> and returns its combined output.
func (e *myEstate) run(t *testing.T, m *testenv.MariaDB, op string, extra ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(envsyncBinary(t), "run", op)
	cmd.Env = e.env(t, m, extra...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, e *myEstate, m *testenv.MariaDB, op string, extra ...string) string {
	t.Helper()
	out, err := e.run(t, m, op, extra...)
	if err != nil {
		t.Fatalf("envsync run %s: %v\n%s", op, err, out)
	}
	if strings.Contains(out, m.Password) || strings.Contains(out, "s3cr3t") {
		t.Errorf("the password appears in the output of envsync run %s:\n%s", op, out)
	}
	return out
}

type mySnapshot struct {
	Tables, Views, Triggers, Routines []string
	Rows                              map[string]string
}

func mySnap(t *testing.T, m *testenv.MariaDB) mySnapshot {
	t.Helper()
	return mySnapshot{m.Tables(t, myDatabase), m.Views(t, myDatabase), m.Triggers(t, myDatabase), m.Routines(t, myDatabase), m.Checksums(t, myDatabase)}
}

func assertMySame(t *testing.T, what string, got, want mySnapshot) {
	t.Helper()
	if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
		t.Errorf("%s differs:\n got: %s\nwant: %s", what, g, w)
	}
}

func assertNoMyWorkingSchemas(t *testing.T, m *testenv.MariaDB) {
	t.Helper()
	for _, s := range []string{mysql.ShadowName(myDatabase), mysql.OldName(myDatabase)} {
		if m.SchemaExists(t, s) {
			t.Errorf("schema %s was left behind", s)
		}
	}
}

func jobState(t *testing.T, pg *testenv.Pushgateway, op string) float64 {
	t.Helper()
	s := pg.Series(t, "db_backup_job_state", map[string]string{"database_engine": "mysql", "database_instance": myInstance, "database_db_name": myDatabase, "operation": op})
	if len(s) != 1 {
		t.Fatalf("db_backup_job_state for mysql %s: %d series, want 1", op, len(s))
	}
	return s[0].Value
}

func TestMySQLBackupThenRestoreThroughS3CopiesEverything(t *testing.T) {
	e := newMyEstate(t)
	want := mySnap(t, e.src)
	mustRun(t, e, e.src, "backup")
	mustRun(t, e, e.dst, "restore")
	assertMySame(t, "the restored schema", mySnap(t, e.dst), want)
	assertNoMyWorkingSchemas(t, e.dst)
	if got := jobState(t, e.pg, "backup"); got != 2 {
		t.Errorf("backup job state %v, want 2 (succeeded)", got)
	}
	if got := jobState(t, e.pg, "restore"); got != 2 {
		t.Errorf("restore job state %v, want 2 (succeeded)", got)
	}
}

func TestMySQLRestoreWithAFailingSanitiseFailsTheJobAndLeavesLiveUntouched(t *testing.T) {
	e := newMyEstate(t)
	mustRun(t, e, e.src, "backup")
	before := mySnap(t, e.dst)
	script := filepath.Join(t.TempDir(), "sanitise.sql")
	os.WriteFile(script, []byte("UPDATE users SET email = CONCAT('user', id, '@example.invalid');\nUPDATE users SET no_such_column = NULL;\n"), 0o644)
	out, err := e.run(t, e.dst, "restore", "SANITISE_SCRIPT="+script)
	if err == nil {
		t.Fatalf("a restore whose sanitise script fails succeeded:\n%s", out)
	}
	if !strings.Contains(out, "no_such_column") {
		t.Errorf("the job's output does not say what failed:\n%s", out)
	}
	assertMySame(t, "live after a failed sanitise", mySnap(t, e.dst), before)
	assertNoMyWorkingSchemas(t, e.dst)
	if got := jobState(t, e.pg, "restore"); got != 0 {
		t.Errorf("restore job state %v, want 0 (failed)", got)
	}
}

func TestMySQLRestoreKilledAtAnyPointLeavesLiveIntactAndTheNextRunSucceeds(t *testing.T) {
	e := newMyEstate(t)
	mustRun(t, e, e.src, "backup")
	script := filepath.Join(t.TempDir(), "sanitise.sql")
	os.WriteFile(script, []byte("SET @d = 'example.invalid';\nUPDATE users u JOIN authorships a ON a.user_id = u.id SET u.email = CONCAT('user', u.id, '@', @d);\nUPDATE editions SET `order` = 0, `state` = 'draft';\n"), 0o644)
	for _, point := range []string{"restore", "sanitise", "swap"} {
		t.Run("killed during "+point, func(t *testing.T) {
			before := mySnap(t, e.dst)
			dir := t.TempDir()
			cmd := exec.Command(envsyncBinary(t), "run", "restore")
			cmd.Env = e.env(t, e.dst, "SANITISE_SCRIPT="+script, "ENVSYNC_TEST_PAUSE="+point+":"+dir)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			reached := false
			for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && !reached; {
				if _, err := os.Stat(filepath.Join(dir, point)); err == nil {
					reached = true
					break
				}
				select {
				case err := <-exited:
					t.Fatalf("envsync ended (%v) before reaching %s:\n%s", err, point, out.String())
				case <-time.After(20 * time.Millisecond):
				}
			}
			if !reached {
				cmd.Process.Kill()
				t.Fatalf("envsync never reached %s:\n%s", point, out.String())
			}
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			// Let children of the killed runner (mysql) see their parent die.
			time.Sleep(200 * time.Millisecond)
			assertMySame(t, "live after a restore killed during "+point, mySnap(t, e.dst), before)
			if !e.dst.SchemaExists(t, mysql.ShadowName(myDatabase)) {
				t.Errorf("no shadow schema after a kill during %s: the kill came too late to prove anything", point)
			}
		})
	}
	// The next run cleans up and restores the sanitised copy.
	mustRun(t, e, e.dst, "restore", "SANITISE_SCRIPT="+script)
	assertNoMyWorkingSchemas(t, e.dst)
	var emails string
	var published int
	e.dst.Root().QueryRow("SELECT GROUP_CONCAT(email ORDER BY id), (SELECT COUNT(*) FROM "+myDatabase+".editions WHERE state <> 'draft') FROM "+myDatabase+".users").Scan(&emails, &published)
	if emails != "user1@example.invalid,user2@example.invalid" || published != 0 {
		t.Errorf("live after the next run is not the sanitised copy: emails %q, published editions %d", emails, published)
	}
	if got := e.dst.Tables(t, myDatabase); strings.Join(got, ",") != "authorships,editions,users" {
		t.Errorf("live tables after the next run: %v", got)
	}
}

func TestASecondMySQLRestoreStartedWhileOneRunsRefusesAndTheFirstCompletes(t *testing.T) {
	e := newMyEstate(t)
	mustRun(t, e, e.src, "backup")
	want := mySnap(t, e.src)
	dir := t.TempDir()
	first := e.start(t, e.dst, "restore", "ENVSYNC_TEST_PAUSE=restore:"+dir)
	paused := filepath.Join(dir, "restore")
	waitForFile(t, paused, first)
	second, err := e.run(t, e.dst, "restore")
	if err == nil || !strings.Contains(second, "another restore of "+myDatabase+" is running") {
		t.Fatalf("the second restore did not refuse (%v):\n%s", err, second)
	}
	if !e.dst.SchemaExists(t, mysql.ShadowName(myDatabase)) {
		t.Fatal("the second restore dropped the first one's shadow")
	}
	os.Remove(paused)
	if err, logs := first.wait(t); err != nil {
		t.Fatalf("the first restore failed after the second refused: %v\n%s", err, logs)
	}
	assertMySame(t, "live after the first restore", mySnap(t, e.dst), want)
	assertNoMyWorkingSchemas(t, e.dst)
}

func TestMySQLAGzipDumpFromTheShellPipelineRestores(t *testing.T) {
	e := newMyEstate(t)
	want := mySnap(t, e.src)
	// What the existing scripts do: mysqldump | gzip | aws s3 cp -, then
	// the pointer.
	key := myInstance + "/2024-05-06T010203Z-" + myDatabase + ".gz"
	sh := fmt.Sprintf(`set -euo pipefail
mysqldump --single-transaction --routines --triggers -h %s -P %d -u %s %s | gzip | aws s3 cp --endpoint-url "$AWS_ENDPOINT_URL_S3" - s3://%s/%s
printf %%s %s | aws s3 cp --endpoint-url "$AWS_ENDPOINT_URL_S3" - s3://%s/%s/latest-%s.txt`,
		e.src.Host, e.src.Port, e.src.User, myDatabase, e.bucket, key, key, e.bucket, myInstance, myDatabase)
	testenv.LookPath(t, "aws", "apt-get install awscli")
	testenv.LookPath(t, "mysqldump", "apt-get install mariadb-client")
	cmd := exec.Command("bash", "-c", sh)
	cmd.Env = append(append(os.Environ(), e.s3.Env()...), "MYSQL_PWD="+e.src.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the shell pipeline: %v\n%s", err, out)
	}
	out := mustRun(t, e, e.dst, "restore")
	if !strings.Contains(out, key) {
		t.Errorf("the restore did not say it read %s:\n%s", key, out)
	}
	assertMySame(t, "the schema restored from the shell pipeline's dump", mySnap(t, e.dst), want)
	assertNoMyWorkingSchemas(t, e.dst)
}

func TestMySQLACorruptTruncatedOrForeignDumpIsRefusedLeavingLiveUntouched(t *testing.T) {
	e := newMyEstate(t)
	mustRun(t, e, e.src, "backup")
	ptr := myS3Read(t, e, myInstance+"/latest-"+myDatabase+".txt")
	good := myS3Read(t, e, strings.TrimSpace(string(ptr)))
	mysqlDump := myDecompress(t, good)
	cases := map[string][]byte{
		"a truncated dump":         myGzip(t, mysqlDump[:len(mysqlDump)*2/3]),
		"a PostgreSQL custom dump": myGzip(t, append([]byte("PGDMP\x01\x0e\x00\x04\x08\x01\x01"), bytes.Repeat([]byte{0}, 4096)...)),
		"a corrupted object":       myCorrupt(good),
	}
	before := mySnap(t, e.dst)
	schemas := e.dst.Schemas(t)
	i := 0
	for name, body := range cases {
		i++
		t.Run(name, func(t *testing.T) {
			key := fmt.Sprintf("%s/2030-01-0%dT000000Z-%s.gz", myInstance, i, myDatabase)
			myS3Write(t, e, key, body)
			out, err := e.run(t, e.dst, "restore", "FILENAME="+key)
			if err == nil {
				t.Fatalf("restoring %s succeeded:\n%s", name, out)
			}
			assertMySame(t, "live after refusing "+name, mySnap(t, e.dst), before)
			if got := e.dst.Schemas(t); strings.Join(got, ",") != strings.Join(schemas, ",") {
				t.Errorf("schemas after refusing %s: %v, want %v (no shadow left)", name, got, schemas)
			}
		})
	}
}

func TestMySQLPasswordNeverAppearsInChildProcessArguments(t *testing.T) {
	e := newMyEstate(t)
	stop := testenv.WatchArguments(e.src.Password, myClientTools...)
	mustRun(t, e, e.src, "backup")
	script := filepath.Join(t.TempDir(), "sanitise.sql")
	os.WriteFile(script, []byte("UPDATE users SET email = NULL;\n"), 0o644)
	mustRun(t, e, e.dst, "restore", "SANITISE_SCRIPT="+script)
	args := stop()
	if len(args.Leaks) > 0 {
		t.Errorf("the password appeared in a process's arguments: %q", args.Leaks)
	}
	if len(args.Tools) == 0 {
		t.Errorf("the poller never saw a MySQL client process; it proved nothing")
	}
	// The clients read the password from their option file: their
	// environments hold nothing of the runner's.
	if got := args.EnvHolding(e.s3.SecretKey); len(got) > 0 {
		t.Errorf("the S3 secret key is in the environment of %v", got)
	}
	if got := args.EnvHolding(e.src.Password); len(got) > 0 {
		t.Errorf("the password is in the environment of %v", got)
	}
	if got := args.EnvNamed("AWS_", "DB_", "BUCKET"); len(got) > 0 {
		t.Errorf("the runner's variables reached its tools: %v", got)
	}
	if len(args.Environs) == 0 {
		t.Errorf("no tool's environment was read: the check proves nothing")
	}
}

// myClientTools are the MySQL client programs the runner starts.
var myClientTools = []string{"mariadb", "mysql", "mariadb-dump", "mysqldump"}

func myS3Read(t *testing.T, e *myEstate, key string) []byte {
	t.Helper()
	o, err := e.s3.Client().GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return b
}

func myS3Write(t *testing.T, e *myEstate, key string, body []byte) {
	t.Helper()
	_, err := e.s3.Client().PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("writing %s: %v", key, err)
	}
}

func myDecompress(t *testing.T, b []byte) []byte {
	t.Helper()
	r, _, err := compress.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func myGzip(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// myCorrupt flips bytes in the middle of a compressed object.
func myCorrupt(b []byte) []byte {
	c := bytes.Clone(b)
	for i := len(c) / 2; i < len(c)/2+16 && i < len(c); i++ {
		c[i] ^= 0x5a
	}
	return c
}

func TestMySQLTransformStopsAtTheFirstErrorAndReports(t *testing.T) {
	e := newMyEstate(t)
	before := mySnap(t, e.src)
	bad := filepath.Join(t.TempDir(), "bad.sql")
	os.WriteFile(bad, []byte("UPDATE users SET email = 'first@example.invalid';\nUPDATE users SET nope = 1;\n"), 0o644)
	cmd := exec.Command(envsyncBinary(t), "run", "transform", bad)
	cmd.Env = e.env(t, e.src)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "nope") {
		t.Fatalf("a failing transform: err %v, output:\n%s", err, out)
	}
	assertMySame(t, "live after a failed transform", mySnap(t, e.src), before)
	if got := jobState(t, e.pg, "transform"); got != 0 {
		t.Errorf("transform job state %v, want 0 (failed)", got)
	}
	good := filepath.Join(t.TempDir(), "good.sql")
	os.WriteFile(good, []byte("SET @d = 'example.invalid';\nUPDATE users u JOIN authorships a ON a.user_id = u.id SET u.email = CONCAT(u.name, '@', @d);\n"), 0o644)
	mustRun(t, e, e.src, "transform", "SANITISE_SCRIPT="+good)
	var emails string
	e.src.Root().QueryRow("SELECT GROUP_CONCAT(email ORDER BY id) FROM " + myDatabase + ".users").Scan(&emails)
	if emails != "Ada@example.invalid,Brian@example.invalid" {
		t.Errorf("emails after the transform: %q", emails)
	}
	if got := jobState(t, e.pg, "transform"); got != 2 {
		t.Errorf("transform job state %v, want 2 (succeeded)", got)
	}
}

// A dump edited after its backup to drop a row, recompressed and given a
// matching checksum (what no checksum can catch), fails its restore before
// the swap: the loaded shadow lacks a row the backup counted.
func TestMySQLADumpEditedToDropARowFailsBeforeTheSwap(t *testing.T) {
	e := newMyEstate(t)
	mustRun(t, e, e.src, "backup")
	key := strings.TrimSpace(string(myS3Read(t, e, layout.PointerKey(myInstance, myDatabase))))
	dump := myDecompress(t, myS3Read(t, e, key))
	edited := bytes.Replace(dump, []byte("(1,'Ada','ada@example.gov.uk'),"), nil, 1)
	if bytes.Equal(edited, dump) {
		t.Fatalf("no row of Ada to drop in the dump:\n%s", dump)
	}
	var z bytes.Buffer
	zw, err := compress.NewWriter(&z, 1)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(edited)
	zw.Close()
	sum := sha256.Sum256(z.Bytes())
	myS3Write(t, e, key, z.Bytes())
	myS3Write(t, e, layout.ChecksumKey(key), []byte(hex.EncodeToString(sum[:])+"  "+path.Base(key)+"\n"))

	before := mySnap(t, e.dst)
	out, err := e.run(t, e.dst, "restore")
	if err == nil || !strings.Contains(out, "users holds 1, the backup dumped 2") {
		t.Fatalf("the restore of the edited dump (%v):\n%s", err, out)
	}
	assertMySame(t, "live after the refused restore", mySnap(t, e.dst), before)
	if got := jobState(t, e.pg, "restore"); got != 0 {
		t.Errorf("state %v, want 0", got)
	}
}
