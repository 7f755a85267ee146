package runner_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/envsync/envsync/testenv"
)

// The restore's guarantees on Mongo, against FerretDB v1: killed at any
// point, live is intact (each collection complete old or complete new) and
// the next run finishes the job; a reader of live never sees an
// unsanitised document nor a partial collection.

const mongoSanitise = "db.users.updateMany({}, {$set: {email: 'user@example.invalid'}});\n"

// start runs envsync in the background; kill it with the returned process.
func (r *mongoRig) start(t *testing.T, f *testenv.FerretDB, op, database string, extra ...string) (*exec.Cmd, *syncedBuffer, chan error) {
	t.Helper()
	cmd := exec.Command(envsyncBinary(t), "run", op)
	cmd.Env = r.env(f, database, extra...)
	logs := &syncedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, logs, done
}

func TestMongoRestoreGuarantees(t *testing.T) {
	r := newMongoRig(t)
	const db = "publisher_production"
	r.put(t, mongoInstance+"/2026-11-30T001300Z-"+db+".gz", fixture(t, "2026-11-30T001300Z-"+db+".gz"))
	r.mustRun(t, r.dst, "restore", db)
	ctx := context.Background()
	users := r.dst.Client().Database(db).Collection("users")
	nUsers, _ := users.CountDocuments(ctx, bson.D{})
	if nUsers == 0 {
		t.Fatal("no users in the fixture: the tests below prove nothing")
	}

	for _, point := range []string{"restore", "sanitise", "swap", "mid-swap"} {
		t.Run("a restore killed at "+point+" leaves every live collection complete, and the next run finishes the job", func(t *testing.T) {
			if _, err := users.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: "marker of the old copy"}}}}); err != nil {
				t.Fatal(err)
			}
			before := mongoSnapshot(t, r.dst, db)
			dir := t.TempDir()
			cmd, logs, done := r.start(t, r.dst, "restore", db, "SANITISE_SCRIPT="+writeScript(t, mongoSanitise), "ENVSYNC_TEST_PAUSE="+point+":"+dir)
			for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
				if _, err := os.Stat(filepath.Join(dir, point)); err == nil {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("the restore ended (%v) before %s:\n%s", err, point, logs)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("the restore never reached %s:\n%s", point, logs)
				}
			}
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			after := mongoSnapshot(t, r.dst, db)
			if point == "mid-swap" {
				// One collection was renamed aside, its replacement not yet
				// in: it is absent until the next run; every other is whole.
				missing := 0
				for name, c := range before {
					got, ok := after[name]
					switch {
					case !ok:
						missing++
					case fmt.Sprint(got) != fmt.Sprint(c):
						t.Errorf("%s changed before its swap", name)
					}
				}
				if missing != 1 {
					t.Errorf("%d collections absent after a kill between two renames, want 1", missing)
				}
			} else {
				for name, c := range before {
					if fmt.Sprint(after[name]) != fmt.Sprint(c) {
						t.Errorf("live %s changed", name)
					}
				}
			}
			r.mustRun(t, r.dst, "restore", db, "SANITISE_SCRIPT="+writeScript(t, mongoSanitise))
			if n, _ := users.CountDocuments(ctx, bson.D{{Key: "email", Value: bson.D{{Key: "$ne", Value: "user@example.invalid"}}}}); n != 0 {
				t.Errorf("%d unsanitised users after the next run", n)
			}
			if got := mongoSnapshot(t, r.dst, db); len(got) != len(before) {
				t.Errorf("collections after the next run: %d, want %d", len(got), len(before))
			}
			assertNoMongoWorking(t, r.dst, db)
		})
	}

	t.Run("a reader polling live during a sanitising restore never sees an unsanitised document nor a partial collection", func(t *testing.T) {
		if _, err := users.UpdateMany(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "old@example.invalid"}}}}); err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		var reads, absent, unsanitised, partial atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rctx.Err() == nil {
				cur, err := users.Find(rctx, bson.D{})
				if err != nil {
					continue
				}
				var n int64
				for cur.Next(rctx) {
					n++
					if email, _ := cur.Current.Lookup("email").StringValueOK(); !strings.HasSuffix(email, "@example.invalid") {
						unsanitised.Add(1)
					}
				}
				cur.Close(rctx)
				if rctx.Err() != nil {
					return
				}
				reads.Add(1)
				switch {
				case n == 0:
					absent.Add(1)
				case n != nUsers:
					partial.Add(1)
				}
			}
		}()
		r.mustRun(t, r.dst, "restore", db, "SANITISE_SCRIPT="+writeScript(t, mongoSanitise))
		stop()
		wg.Wait()
		if reads.Load() < 10 {
			t.Fatalf("only %d reads during the restore: the test proves nothing", reads.Load())
		}
		if unsanitised.Load() > 0 || partial.Load() > 0 {
			t.Errorf("%d unsanitised documents and %d partial reads in %d reads", unsanitised.Load(), partial.Load(), reads.Load())
		}
		// FerretDB v1 cannot rename over a collection: between its two
		// renames users is absent for an instant (MongoDB and DocumentDB
		// replace it atomically with dropTarget).
		t.Logf("%d reads, %d saw users absent for the instant of its swap", reads.Load(), absent.Load())
	})

	t.Run("transform runs the script on live with mongosh", func(t *testing.T) {
		r.mustRun(t, r.dst, "transform", db, "SANITISE_SCRIPT="+writeScript(t, "db.users.updateMany({}, {$set: {name: 'transformed'}});\n"))
		if n, _ := users.CountDocuments(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$ne", Value: "transformed"}}}}); n != 0 {
			t.Errorf("%d users not transformed", n)
		}
	})
}

func TestMongoOverTLS(t *testing.T) {
	ca := testenv.NewCA(t)
	r := &mongoRig{s3: testenv.StartS3(t), pgw: testenv.StartPushgateway(t),
		src: testenv.StartFerretDBWith(t, testenv.FerretDBOptions{TLS: ca.Server(t, "ferretdb", "127.0.0.1")}), dst: testenv.StartFerretDB(t)}
	r.s3.CreateBucket(t, "dumps")
	r.path = filepath.Dir(testenv.Mongosh(t)) + string(os.PathListSeparator) + os.Getenv("PATH")
	const db = "short_url_manager_production"
	r.put(t, mongoInstance+"/2026-11-30T001300Z-"+db+".gz", fixture(t, "2026-11-30T001300Z-"+db+".gz"))

	t.Run("verify-full restores, sanitises with mongosh and backs up against a server that requires TLS", func(t *testing.T) {
		tls := []string{"DB_SSLMODE=verify-full", "DB_SSLROOTCERT=" + ca.CertFile}
		logs := r.mustRun(t, r.src, "restore", db, append(tls, "SANITISE_SCRIPT="+writeScript(t, mongoSanitise))...)
		if !strings.Contains(logs, `"sslmode":"verify-full","protection":"TLS TLS 1.`) {
			t.Errorf("the restore does not log its sessions' protection:\n%s", logs)
		}
		r.mustRun(t, r.src, "backup", db, tls...)
	})

	t.Run("require against a server without TLS fails with a clear error before touching anything", func(t *testing.T) {
		out, err := r.run(t, r.dst, "restore", db, "DB_SSLMODE=require")
		if err == nil {
			t.Fatalf("restored without TLS:\n%s", out)
		}
		if !strings.Contains(out, "sslmode require") {
			t.Errorf("the error does not say TLS was required:\n%s", out)
		}
		assertNoMongoWorking(t, r.dst, db)
		if names, _ := r.dst.Client().ListDatabaseNames(context.Background(), bson.D{}); strings.Contains(strings.Join(names, ","), db) {
			t.Errorf("databases after the refused restore: %v", names)
		}
	})
}
