package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/envsync/envsync/runner/compress"
	"github.com/envsync/envsync/testenv"
)

// objectBytes is the content of bucket/key as stored.
func objectBytes(t *testing.T, srv *testenv.S3Server, bucket, key string) []byte {
	t.Helper()
	out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("reading %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// objectText is the decompressed content of bucket/key.
func objectText(t *testing.T, srv *testenv.S3Server, bucket, key string) []byte {
	t.Helper()
	out, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("reading %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	if !strings.HasSuffix(key, ".zst") && !strings.HasSuffix(key, ".gz") {
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dec, _, err := compress.NewReader(out.Body)
	if err != nil {
		t.Fatalf("%s/%s: %v", bucket, key, err)
	}
	defer dec.Close()
	b, err := io.ReadAll(dec)
	if err != nil {
		t.Fatalf("decompressing %s/%s: %v", bucket, key, err)
	}
	return b
}

// personalIn returns the seeds' personal strings found in any object of
// bucket (decompressed): none may be in a bucket that publishes.
func personalIn(t *testing.T, srv *testenv.S3Server, bucket string, personal ...string) []string {
	t.Helper()
	var found []string
	for _, key := range srv.Keys(t, bucket) {
		b := objectText(t, srv, bucket, key)
		for _, p := range personal {
			if bytes.Contains(b, []byte(p)) {
				found = append(found, key+": "+p)
			}
		}
	}
	return found
}

// scratchPasswordFile writes a scratch server's password where a publish
// reads it, as the pod's first container does.
func scratchPasswordFile(t testing.TB, password string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scratch-password")
	if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pgPersonal are strings of pgFixture's personal columns.
var pgPersonal = []string{"person1@example.com", "person39999@example.com", "Person 12345"}

// A publish in production: the live database is dumped once, in read-only
// sessions, into a scratch server where the sync's script and gate run;
// only the scratch's dump reaches the published bucket, the raw dump the
// raw one. Staging restored from the published dump equals the scratch.
// A failing script, and a stop at each phase, publish nothing.
func TestAPublishSanitisesInAScratchServerAndPublishesOnlyThat(t *testing.T) {
	r := &pgRig{bin: envsyncBinary(t), s3: testenv.StartS3(t), src: testenv.StartPostgresWith(t, testenv.PostgresOptions{LogWrites: true}),
		dst: testenv.StartPostgres(t), pgw: testenv.StartPushgateway(t)}
	r.s3.CreateBucket(t, "dumps")
	r.s3.CreateBucket(t, "raw")
	r.src.Exec(t, "postgres", "CREATE DATABASE "+pgDatabase)
	r.src.Exec(t, pgDatabase, pgFixture)
	r.dst.Exec(t, "postgres", "CREATE ROLE "+pgOwner)
	scratch := testenv.StartPostgres(t)
	ctx := context.Background()
	script := writeScript(t, pgSanitise)
	publish := []string{"ENVIRONMENT=production", "SANITISE_SCRIPT=" + script, "CLASSIFICATION=" + writeClassification(t),
		"SCRATCH_HOST=" + scratch.Host, "SCRATCH_PORT=" + strconv.Itoa(scratch.Port), "SCRATCH_USER=" + scratch.User,
		"SCRATCH_PASSWORD_FILE=" + scratchPasswordFile(t, scratch.Password)}
	state := func(t *testing.T) float64 {
		t.Helper()
		s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"operation": "publish"})
		if len(s) != 1 {
			t.Fatalf("publish's state series: %+v, want one", s)
		}
		return s[0].Value
	}
	pointer := pgInstance + "/latest-" + pgDatabase + ".txt"

	production := r.src.Snapshot(t, pgDatabase)
	logs := r.mustRun(t, r.src, "publish", append(publish, "RAW_BUCKET=s3://raw")...)
	if got := state(t); got != 2 {
		t.Fatalf("state %v after a publish that succeeded, want 2", got)
	}
	if ok, diff := production.Equal(r.src.Snapshot(t, pgDatabase)); !ok {
		t.Fatalf("production's database changed: %s", diff)
	}
	if w := r.src.WriteLog(t, "envsync"); len(w) != 0 {
		t.Fatalf("the publish wrote to production: %q", w)
	}
	// The log shows a write when there is one: the check above can fail.
	r.mustRun(t, r.src, "transform", "ENVIRONMENT=integration", "SANITISE_SCRIPT="+writeScript(t, "UPDATE people SET note = note WHERE false;\n"))
	if w := r.src.WriteLog(t, "envsync"); len(w) == 0 {
		t.Fatal("the server log shows no write of a transform: the read-only check proves nothing")
	}
	if found := personalIn(t, r.s3, "dumps", pgPersonal...); len(found) != 0 {
		t.Fatalf("personal data published: %q\n%s", found, logs)
	}
	if found := personalIn(t, r.s3, "raw", pgPersonal...); len(found) != len(pgPersonal) {
		t.Fatalf("the raw bucket holds %q: the raw dump is missing, or the scan above proves nothing", found)
	}
	if raw, published := string(objectText(t, r.s3, "raw", pointer)), string(r.get(t, pointer)); !slices.Contains(r.s3.Keys(t, "raw"), raw) || !slices.Contains(r.s3.Keys(t, "dumps"), published) {
		t.Fatalf("pointers: published %s, raw %s", published, raw)
	}

	// Staging restores the published dump: it is the scratch's data.
	r.mustRun(t, r.dst, "restore", "ENVIRONMENT=staging")
	if ok, diff := scratch.Snapshot(t, pgDatabase).Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
		t.Fatalf("staging is not the sanitised scratch: %s", diff)
	}
	var left int64
	r.dst.Connect(t, pgDatabase).QueryRow(ctx, pgUnsanitised).Scan(&left)
	if left != 0 {
		t.Fatalf("%d unsanitised rows in staging", left)
	}

	// published is what the published bucket holds: its keys and the key
	// its pointer names.
	published := func(t *testing.T) []string {
		return append(r.s3.Keys(t, "dumps"), string(r.get(t, pointer)))
	}
	// What a failed publish must leave, besides the published bucket as it
	// was: no upload pending, state 0 (1 when killed), production as it was.
	failedCleanly := func(t *testing.T, reported bool) {
		t.Helper()
		if got := state(t); reported && got != 0 || !reported && got != 1 {
			t.Errorf("state %v pushed, want %v", got, map[bool]int{true: 0, false: 1}[reported])
		}
		if pending := r.s3.PendingUploads(t, "dumps"); len(pending) != 0 {
			t.Errorf("uploads left pending: %q", pending)
		}
		if ok, diff := production.Equal(r.src.Snapshot(t, pgDatabase)); !ok {
			t.Fatalf("production's database changed: %s", diff)
		}
		if found := personalIn(t, r.s3, "dumps", pgPersonal...); len(found) != 0 {
			t.Fatalf("personal data published: %q", found)
		}
	}

	t.Run("a script that fails publishes nothing", func(t *testing.T) {
		before := published(t)
		failing := writeScript(t, pgSanitise+"SELECT 1/0;\n")
		err, logs := r.run(t, r.src, "publish", append(publish, "SANITISE_SCRIPT="+failing)...)
		if err == nil || !hasLine(logs, `"msg":"operation failed"`, "division by zero") {
			t.Fatalf("a failing script: %v\n%s", err, logs)
		}
		if after := published(t); !slices.Equal(after, before) {
			t.Errorf("the published bucket went from %q to %q", before, after)
		}
		failedCleanly(t, true)
	})

	t.Run("a script that leaves a personal column unchanged publishes nothing", func(t *testing.T) {
		before := published(t)
		forgetful := writeScript(t, "UPDATE people SET email = 'user' || id || '@example.invalid'; TRUNCATE audit.events;\n")
		err, logs := r.run(t, r.src, "publish", append(publish, "SANITISE_SCRIPT="+forgetful)...)
		if err == nil || !strings.Contains(logs, "people.name is personal but the script left it unchanged") {
			t.Fatalf("a script that forgets people.name: %v\n%s", err, logs)
		}
		if after := published(t); !slices.Equal(after, before) {
			t.Errorf("the published bucket went from %q to %q", before, after)
		}
		failedCleanly(t, true)
	})

	stopsInEachPhasePublishNothing(t, func(t *testing.T, extra ...string) *envsyncRun {
		return r.start(t, r.src, "publish", append(publish, extra...)...)
	}, published, failedCleanly)
}

// stopsInEachPhasePublishNothing stops a publish (started by start with the
// extra settings given) at each phase, with SIGTERM and with SIGKILL:
// what published says is in the published bucket (its keys and its
// pointer's target) must not change, and failed checks the rest (reported:
// SIGTERM, after which the runner pushes state 0). A publish after each
// stop must succeed: what the stop left on the scratch is cleaned up.
func stopsInEachPhasePublishNothing(t *testing.T, start func(t *testing.T, extra ...string) *envsyncRun,
	published func(t *testing.T) []string, failed func(t *testing.T, reported bool)) {
	t.Helper()
	for _, phase := range []struct{ name, pause string }{
		{"while the live dump loads into the scratch", "restore"},
		{"during the script", "sanitise"},
		{"before the scratch's dump", "publish-dump"},
		{"during the scratch's dump and upload", "upload"},
	} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			t.Run(sig.String()+" "+phase.name+" publishes nothing", func(t *testing.T) {
				before := published(t)
				dir := t.TempDir()
				run := start(t, "ENVSYNC_TEST_PAUSE="+phase.pause+":"+dir)
				paused := filepath.Join(dir, phase.pause)
				waitForFile(t, paused, run)
				if sig == syscall.SIGTERM {
					run.terminate(t, paused)
				} else {
					run.cmd.Process.Signal(sig)
					<-run.done
					run.done <- nil
				}
				if after := published(t); !slices.Equal(after, before) {
					t.Errorf("the published bucket went from %q to %q", before, after)
				}
				// Killed, the runner can push nothing: its last word is
				// "running" (1), which "taking a long time" watches.
				failed(t, sig == syscall.SIGTERM)
				if err, logs := start(t).wait(t); err != nil {
					t.Fatalf("the publish after the stop: %v\n%s", err, logs)
				}
			})
		}
	}
}

// The same publish on MySQL: production sees only the dump's reads (its
// general log holds no statement that writes; mariadb-dump has no way to
// make its session read-only), the script runs on a scratch MariaDB, only its dump published; a failing script publishes
// nothing.
func TestAMySQLPublishSanitisesInAScratchServerAndPublishesOnlyThat(t *testing.T) {
	general := filepath.Join(t.TempDir(), "general.log")
	e := newMyEstateOn(t, testenv.StartMariaDB(t, "--general-log=1", "--general-log-file="+general), testenv.StartMariaDB(t))
	e.s3.CreateBucket(t, "raw")
	scratch := testenv.StartMariaDB(t)
	script := filepath.Join(t.TempDir(), "sanitise.sql")
	os.WriteFile(script, []byte("UPDATE users SET name = CONCAT('user', id), email = CONCAT('user', id, '@example.invalid');\n"), 0o644)
	publish := []string{"ENVIRONMENT=production", "SANITISE_SCRIPT=" + script, "RAW_BUCKET=s3://raw",
		"SCRATCH_HOST=" + scratch.Host, "SCRATCH_PORT=" + strconv.Itoa(scratch.Port), "SCRATCH_USER=" + scratch.User,
		"SCRATCH_PASSWORD_FILE=" + scratchPasswordFile(t, scratch.Password)}
	personal := []string{"ada@example.gov.uk", "brian@example.gov.uk", "'Brian'"}

	production := mySnap(t, e.src)
	logged, _ := os.ReadFile(general)
	mustRun(t, e, e.src, "publish", publish...)
	if got := jobState(t, e.pg, "publish"); got != 2 {
		t.Fatalf("publish state %v, want 2", got)
	}
	assertMySame(t, "production", mySnap(t, e.src), production)
	all, _ := os.ReadFile(general)
	session := string(all[len(logged):])
	if !strings.Contains(session, "WITH CONSISTENT SNAPSHOT") {
		t.Fatalf("the general log does not show the publish's dump: the check below proves nothing\n%s", session)
	}
	for _, l := range strings.Split(session, "\n") {
		if f := strings.Fields(strings.ToUpper(l)); len(f) > 0 && slices.ContainsFunc(f, func(w string) bool {
			return slices.Contains([]string{"INSERT", "UPDATE", "DELETE", "REPLACE", "TRUNCATE", "DROP", "ALTER", "RENAME"}, w)
		}) && !strings.Contains(l, "SHOW") && !strings.Contains(l, "SELECT") {
			t.Errorf("a statement that writes reached production: %s", l)
		}
	}
	if found := personalIn(t, e.s3, e.bucket, personal...); len(found) != 0 {
		t.Fatalf("personal data published: %q", found)
	}
	if found := personalIn(t, e.s3, "raw", personal...); len(found) != len(personal) {
		t.Fatalf("the raw bucket holds %q: the raw dump is missing, or the scan proves nothing", found)
	}
	mustRun(t, e, e.dst, "restore")
	assertMySame(t, "staging restored from the published dump, against the scratch", mySnap(t, e.dst), mySnap(t, scratch))

	keys := e.s3.Keys(t, e.bucket)
	failing := filepath.Join(t.TempDir(), "failing.sql")
	os.WriteFile(failing, []byte("UPDATE users SET email = NULL;\nUPDATE users SET no_such_column = NULL;\n"), 0o644)
	out, err := e.run(t, e.src, "publish", append(publish, "SANITISE_SCRIPT="+failing)...)
	if err == nil || !strings.Contains(out, "no_such_column") {
		t.Fatalf("a failing script: %v\n%s", err, out)
	}
	if got := jobState(t, e.pg, "publish"); got != 0 {
		t.Errorf("publish state %v after a failing script, want 0", got)
	}
	if after := e.s3.Keys(t, e.bucket); !slices.Equal(after, keys) {
		t.Errorf("a failing script changed the published bucket from %q to %q", keys, after)
	}

	// Without a raw bucket, so that the upload stopped is the published one.
	noRaw := slices.DeleteFunc(slices.Clone(publish), func(s string) bool { return strings.HasPrefix(s, "RAW_BUCKET=") })
	pointer := myInstance + "/latest-" + myDatabase + ".txt"
	stopsInEachPhasePublishNothing(t, func(t *testing.T, extra ...string) *envsyncRun {
		return e.start(t, e.src, "publish", append(noRaw, extra...)...)
	}, func(t *testing.T) []string {
		return append(e.s3.Keys(t, e.bucket), string(objectText(t, e.s3, e.bucket, pointer)))
	}, func(t *testing.T, reported bool) {
		if got := jobState(t, e.pg, "publish"); reported && got != 0 || !reported && got != 1 {
			t.Errorf("publish state %v after a stop (reported %v)", got, reported)
		}
		if pending := e.s3.PendingUploads(t, e.bucket); len(pending) != 0 {
			t.Errorf("uploads left pending: %q", pending)
		}
		assertMySame(t, "production", mySnap(t, e.src), production)
	})
}

// The same publish on a MongoDB-wire server, with the estate's own
// asset-manager script on a scratch FerretDB: none of the fixture's
// personal strings is published.
func TestAMongoPublishSanitisesInAScratchServerAndPublishesOnlyThat(t *testing.T) {
	r := newMongoRig(t)
	scratch := testenv.StartFerretDB(t)
	const db = "govuk_assets_production"
	file := "2026-11-30T001300Z-" + db + ".gz"
	r.put(t, mongoInstance+"/"+file, fixture(t, file))
	r.mustRun(t, r.src, "restore", db) // production's data
	production := mongoSnapshot(t, r.src, db)
	personal := slices.Collect(maps.Keys(assetManagerPersonal(t, file)))
	if len(personal) < 40 {
		t.Fatalf("only %d personal strings in the fixture: the test proves little", len(personal))
	}
	publish := []string{"ENVIRONMENT=production", "SANITISE_SCRIPT=../syncs/sanitise/asset-manager.js",
		"SCRATCH_HOST=" + scratch.Host, "SCRATCH_PORT=" + strconv.Itoa(scratch.Port), "SCRATCH_USER=" + scratch.User,
		"SCRATCH_PASSWORD_FILE=" + scratchPasswordFile(t, scratch.Password)}
	keys := r.s3.Keys(t, "dumps")
	r.mustRun(t, r.src, "publish", db, publish...)
	if got := fmt.Sprint(mongoSnapshot(t, r.src, db)); got != fmt.Sprint(production) {
		t.Fatal("production's database changed")
	}
	var published []string
	for _, k := range r.s3.Keys(t, "dumps") {
		if !slices.Contains(keys, k) {
			published = append(published, k)
		}
	}
	if len(published) != 4 { // the dump, its row counts, its checksum, the pointer
		t.Fatalf("the publish stored %q, want a dump, its row counts, its checksum and the pointer", published)
	}
	for _, k := range published {
		b := objectText(t, r.s3, "dumps", k)
		for _, p := range personal {
			if bytes.Contains(b, []byte(p)) {
				t.Fatalf("personal data published in %s: %q", k, p)
			}
		}
	}
	r.mustRun(t, r.dst, "restore", db)
	if got, want := fmt.Sprint(mongoSnapshot(t, r.dst, db)), fmt.Sprint(mongoSnapshot(t, scratch, db)); got != want {
		t.Fatalf("staging is not the sanitised scratch:\n got %s\nwant %s", got, want)
	}

	out, err := r.run(t, r.src, "publish", db, append(publish, "SANITISE_SCRIPT="+writeScript(t, "db.assets.updateMany({}, {$set: {uploaded_by: null}}); throw new Error('boom');\n"))...)
	if err == nil || !strings.Contains(out, "boom") {
		t.Fatalf("a failing script: %v\n%s", err, out)
	}
	if after := r.s3.Keys(t, "dumps"); len(after) != len(keys)+4 { // the good publish's four objects
		t.Errorf("a failing script changed the published bucket: %q", after)
	}

}

// A Mongo publish stopped in each phase publishes nothing, on a small
// database (the asset-manager fixture makes each run slow).
func TestAMongoPublishStoppedInEachPhasePublishesNothing(t *testing.T) {
	r := newMongoRig(t)
	scratch := testenv.StartFerretDB(t)
	const db = "app_production"
	var users []any
	for i := range 2000 {
		users = append(users, bson.D{{Key: "_id", Value: i}, {Key: "email", Value: fmt.Sprintf("person%d@mail.example.net", i)}})
	}
	if _, err := r.src.Client().Database(db).Collection("users").InsertMany(t.Context(), users); err != nil {
		t.Fatal(err)
	}
	production := fmt.Sprint(mongoSnapshot(t, r.src, db))
	publish := []string{"ENVIRONMENT=production", "SANITISE_SCRIPT=" + writeScript(t, mongoSanitise),
		"SCRATCH_HOST=" + scratch.Host, "SCRATCH_PORT=" + strconv.Itoa(scratch.Port), "SCRATCH_USER=" + scratch.User,
		"SCRATCH_PASSWORD_FILE=" + scratchPasswordFile(t, scratch.Password)}
	r.mustRun(t, r.src, "publish", db, publish...)
	pointer := mongoInstance + "/latest-" + db + ".txt"
	stopsInEachPhasePublishNothing(t, func(t *testing.T, extra ...string) *envsyncRun {
		cmd, logs, done := r.start(t, r.src, "publish", db, append(publish, extra...)...)
		return &envsyncRun{cmd: cmd, logs: logs, done: done}
	}, func(t *testing.T) []string {
		return append(r.s3.Keys(t, "dumps"), string(objectText(t, r.s3, "dumps", pointer)))
	}, func(t *testing.T, reported bool) {
		s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"operation": "publish"})
		if len(s) != 1 || reported && s[0].Value != 0 || !reported && s[0].Value != 1 {
			t.Errorf("publish state %+v after a stop (reported %v)", s, reported)
		}
		if pending := r.s3.PendingUploads(t, "dumps"); len(pending) != 0 {
			t.Errorf("uploads left pending: %q", pending)
		}
		if got := fmt.Sprint(mongoSnapshot(t, r.src, db)); got != production {
			t.Fatal("production's database changed")
		}
	})
}
