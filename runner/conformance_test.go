package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/envsync/envsync/runner/engines"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/storage"
	"github.com/envsync/envsync/testenv"
)

// conformer is a streaming engine's part of the conformance suite: a
// source holding data with personal details and a destination whose live
// copy differs, the runner's environment for either, and scripts in the
// engine's language.
type conformer struct {
	engine, instance, database string
	env                        func(dst bool, extra ...string) []string
	live                       func(t *testing.T, dst bool) string // what the live database holds, comparable
	personalLeft               func(t *testing.T) int              // rows of the destination the sanitise script should have changed and did not
	sanitise, failing          string                              // a script that changes the data, one that fails after changing it
	scriptExt                  string
	pushgateway                *testenv.Pushgateway
	store                      storage.Store // the bucket the dumps go to
}

// conformers are the rigs of every streaming engine, by the name the
// registry gives it: a new engine without one fails the suite.
var conformers = map[string]func(t *testing.T) *conformer{
	"postgres": func(t *testing.T) *conformer {
		r := newPGRig(t)
		r.dst.Exec(t, "postgres", "CREATE DATABASE "+pgDatabase)
		r.dst.Exec(t, pgDatabase, "CREATE TABLE legacy (note text); INSERT INTO legacy VALUES ('staging only')")
		pick := func(dst bool) *testenv.Postgres { return map[bool]*testenv.Postgres{false: r.src, true: r.dst}[dst] }
		return &conformer{
			engine: "postgres", instance: pgInstance, database: pgDatabase, pushgateway: r.pgw, store: r.store(t),
			env:  func(dst bool, extra ...string) []string { return r.env(pick(dst), extra...) },
			live: func(t *testing.T, dst bool) string { return fmt.Sprintf("%#v", pick(dst).Snapshot(t, pgDatabase)) },
			personalLeft: func(t *testing.T) (n int) {
				r.dst.Connect(t, pgDatabase).QueryRow(t.Context(), pgUnsanitised).Scan(&n)
				return n
			},
			sanitise: pgSanitise, failing: "UPDATE people SET email = NULL;\nSELECT 1/0;\n", scriptExt: ".sql",
		}
	},
	"mysql": func(t *testing.T) *conformer {
		e := newMyEstate(t)
		pick := func(dst bool) *testenv.MariaDB { return map[bool]*testenv.MariaDB{false: e.src, true: e.dst}[dst] }
		return &conformer{
			engine: "mysql", instance: myInstance, database: myDatabase, pushgateway: e.pg,
			store: storage.NewS3(e.s3.Config(), e.bucket, storage.S3Options{}),
			env:   func(dst bool, extra ...string) []string { return e.env(t, pick(dst), extra...) },
			live:  func(t *testing.T, dst bool) string { return fmt.Sprintf("%#v", mySnap(t, pick(dst))) },
			personalLeft: func(t *testing.T) (n int) {
				e.dst.Root().QueryRow("SELECT count(*) FROM " + myDatabase + ".users WHERE email NOT LIKE '%@example.invalid' OR name IS NOT NULL").Scan(&n)
				return n
			},
			sanitise: "UPDATE users SET email = CONCAT('user', id, '@example.invalid'), name = NULL;\n",
			failing:  "UPDATE users SET email = NULL;\nSELECT * FROM no_such_table;\n", scriptExt: ".sql",
		}
	},
	"mongo": func(t *testing.T) *conformer {
		r := newMongoRig(t)
		const db = "conformance_production"
		pick := func(dst bool) *testenv.FerretDB { return map[bool]*testenv.FerretDB{false: r.src, true: r.dst}[dst] }
		var people []any
		for i := range 50 {
			people = append(people, bson.D{{Key: "_id", Value: i}, {Key: "name", Value: fmt.Sprintf("Person %d", i)}, {Key: "email", Value: fmt.Sprintf("person%d@mailbox.example.net", i)}})
		}
		if _, err := r.src.Client().Database(db).Collection("users").InsertMany(context.Background(), people); err != nil {
			t.Fatal(err)
		}
		if _, err := r.dst.Client().Database(db).Collection("legacy").InsertOne(context.Background(), bson.D{{Key: "note", Value: "staging only"}}); err != nil {
			t.Fatal(err)
		}
		return &conformer{
			engine: "mongo", instance: mongoInstance, database: db, pushgateway: r.pgw,
			store: storage.NewS3(r.s3.Config(), "dumps", storage.S3Options{}),
			env:   func(dst bool, extra ...string) []string { return r.env(pick(dst), db, extra...) },
			live:  func(t *testing.T, dst bool) string { return fmt.Sprint(mongoSnapshot(t, pick(dst), db)) },
			personalLeft: func(t *testing.T) int {
				n, _ := r.dst.Client().Database(db).Collection("users").CountDocuments(t.Context(), bson.D{{Key: "email", Value: bson.D{{Key: "$not", Value: bson.Regex{Pattern: "@example\\.invalid$"}}}}})
				return int(n)
			},
			sanitise: `db.users.find().forEach(u => db.users.updateOne({_id: u._id}, {$set: {email: "user" + u._id + "@example.invalid", name: null}}));` + "\n",
			failing:  "db.users.updateMany({}, {$set: {email: null}});\nthrow new Error(\"deliberate\");\n", scriptExt: ".js",
		}
	},
}

// Every streaming engine passes the same scenarios: a backup restores to
// exactly what was backed up; a sanitise script changes the restored copy;
// a failing script fails the job and leaves live untouched; a restore
// killed while loading or sanitising leaves live untouched and the next run
// succeeds; and each outcome is pushed as the job's state.
func TestEveryStreamingEngineConforms(t *testing.T) {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range engines.All.Streaming {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			mk, ok := conformers[name]
			if !ok {
				t.Fatalf("streaming engine %q has no conformance rig: add one to conformers", name)
			}
			c := mk(t)
			c.conform(t)
		})
	}
}

func (c *conformer) conform(t *testing.T) {
	run := func(t *testing.T, dst bool, op string, extra ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(envsyncBinary(t), "run", op)
		cmd.Env = c.env(dst, extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	state := func(t *testing.T, op string) float64 {
		t.Helper()
		s := c.pushgateway.Series(t, "db_backup_job_state", map[string]string{"database_engine": c.engine, "database_instance": c.instance, "database_db_name": c.database, "operation": op})
		if len(s) != 1 {
			t.Fatalf("db_backup_job_state for %s %s: %d series, want 1", c.engine, op, len(s))
		}
		return s[0].Value
	}
	script := func(t *testing.T, body string) string {
		p := filepath.Join(t.TempDir(), "script"+c.scriptExt)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return "SANITISE_SCRIPT=" + p
	}

	if out, err := run(t, false, "backup"); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if state(t, "backup") != 2 {
		t.Error("a backup that succeeded did not push state 2 (succeeded)")
	}
	source := c.live(t, false)

	t.Run("a failing script fails the restore and leaves live untouched", func(t *testing.T) {
		before := c.live(t, true)
		if out, err := run(t, true, "restore", script(t, c.failing)); err == nil {
			t.Fatalf("the restore succeeded with a failing script:\n%s", out)
		}
		if after := c.live(t, true); after != before {
			t.Errorf("live changed:\n got %s\nwant %s", after, before)
		}
		if state(t, "restore") != 0 {
			t.Error("the failed restore did not push state 0")
		}
	})

	// The swap is each engine's own (PostgreSQL's live refuses connections
	// there, Mongo's new collections stand beside live): its kill tests are
	// the engine's (postgres_test, mysql_test, mongo_safety_test).
	for _, point := range []string{"restore", "sanitise"} {
		t.Run("a restore killed during "+point+" leaves live untouched", func(t *testing.T) {
			before := c.live(t, true)
			dir := t.TempDir()
			cmd := exec.Command(envsyncBinary(t), "run", "restore")
			cmd.Env = c.env(true, script(t, c.sanitise), "ENVSYNC_TEST_PAUSE="+point+":"+dir)
			run := &envsyncRun{cmd: cmd, logs: &syncedBuffer{}, done: make(chan error, 1)}
			cmd.Stdout, cmd.Stderr = run.logs, run.logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { run.done <- cmd.Wait() }()
			t.Cleanup(func() { cmd.Process.Kill() })
			waitForFile(t, filepath.Join(dir, point), run)
			cmd.Process.Signal(syscall.SIGKILL)
			<-run.done
			time.Sleep(200 * time.Millisecond) // children see their parent die
			if after := c.live(t, true); after != before {
				t.Errorf("live changed:\n got %s\nwant %s", after, before)
			}
		})
	}

	t.Run("the backup recorded each table's rows, and a restore whose copy holds others fails before anything goes live", func(t *testing.T) {
		key, err := layout.ReadPointer(t.Context(), c.store, c.instance, c.database)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := layout.RecordedRows(t.Context(), c.store, key)
		if err != nil || len(rows) == 0 {
			t.Fatalf("no row counts beside %s (%v)", key, err)
		}
		// As if the dump had lost a row on the way: the counts say one more.
		table := slices.Sorted(maps.Keys(rows))[0]
		claimed := maps.Clone(rows)
		claimed[table]++
		put := func(m map[string]int64) {
			b, _ := json.Marshal(m)
			if _, err := c.store.Put(t.Context(), layout.RowsKey(key), bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		}
		put(claimed)
		defer put(rows)
		before := c.live(t, true)
		out, err := run(t, true, "restore")
		if want := fmt.Sprintf("%s holds %d, the backup dumped %d", table, rows[table], claimed[table]); err == nil || !strings.Contains(out, want) {
			t.Fatalf("the restore (%v) does not say %q:\n%s", err, want, out)
		}
		if after := c.live(t, true); after != before {
			t.Errorf("live changed:\n got %s\nwant %s", after, before)
		}
		if state(t, "restore") != 0 {
			t.Error("the refused restore did not push state 0")
		}
	})

	t.Run("a restore without a script is what was backed up", func(t *testing.T) {
		if out, err := run(t, true, "restore"); err != nil {
			t.Fatalf("restore: %v\n%s", err, out)
		}
		if got := c.live(t, true); got != source {
			t.Errorf("live after the restore:\n got %s\nwant %s", got, source)
		}
		if state(t, "restore") != 2 {
			t.Error("a restore that succeeded did not push state 2 (succeeded)")
		}
	})

	t.Run("a sanitise script changes the restored copy", func(t *testing.T) {
		if out, err := run(t, true, "restore", script(t, c.sanitise)); err != nil {
			t.Fatalf("restore: %v\n%s", err, out)
		}
		if c.live(t, true) == source {
			t.Error("live after a sanitising restore is the source unchanged")
		}
		if n := c.personalLeft(t); n != 0 {
			t.Errorf("%d rows the script changes are unchanged in live", n)
		}
	})
}
