package runner_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/envsync/envsync/runner/compress"
	"github.com/envsync/envsync/testenv"
)

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
func scratchPasswordFile(t *testing.T, password string) string {
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

	// What a failed publish must leave: the published pointer and objects
	// as they were, no upload pending, state 0.
	failedCleanly := func(t *testing.T, was string, keys []string, reported bool) {
		t.Helper()
		if got := state(t); reported && got != 0 || !reported && got != 1 {
			t.Errorf("state %v pushed, want %v", got, map[bool]int{true: 0, false: 1}[reported])
		}
		if now := string(r.get(t, pointer)); now != was {
			t.Errorf("the published pointer moved from %s to %s", was, now)
		}
		if after := r.s3.Keys(t, "dumps"); !slices.Equal(after, keys) {
			t.Errorf("the published bucket went from %q to %q", keys, after)
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
		was, keys := string(r.get(t, pointer)), r.s3.Keys(t, "dumps")
		failing := writeScript(t, pgSanitise+"SELECT 1/0;\n")
		err, logs := r.run(t, r.src, "publish", append(publish, "SANITISE_SCRIPT="+failing)...)
		if err == nil || !hasLine(logs, `"msg":"operation failed"`, "division by zero") {
			t.Fatalf("a failing script: %v\n%s", err, logs)
		}
		failedCleanly(t, was, keys, true)
	})

	t.Run("a script that leaves a personal column unchanged publishes nothing", func(t *testing.T) {
		was, keys := string(r.get(t, pointer)), r.s3.Keys(t, "dumps")
		forgetful := writeScript(t, "UPDATE people SET email = 'user' || id || '@example.invalid'; TRUNCATE audit.events;\n")
		err, logs := r.run(t, r.src, "publish", append(publish, "SANITISE_SCRIPT="+forgetful)...)
		if err == nil || !strings.Contains(logs, "people.name is personal but the script left it unchanged") {
			t.Fatalf("a script that forgets people.name: %v\n%s", err, logs)
		}
		failedCleanly(t, was, keys, true)
	})

	for _, phase := range []struct{ name, pause string }{
		{"while the live dump loads into the scratch", "restore"},
		{"during the script", "sanitise"},
		{"before the scratch's dump", "publish-dump"},
		{"during the scratch's dump and upload", "upload"},
	} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			t.Run(sig.String()+" "+phase.name+" publishes nothing", func(t *testing.T) {
				was, keys := string(r.get(t, pointer)), r.s3.Keys(t, "dumps")
				dir := t.TempDir()
				run := r.start(t, r.src, "publish", append(publish, "ENVSYNC_TEST_PAUSE="+phase.pause+":"+dir)...)
				paused := filepath.Join(dir, phase.pause)
				waitForFile(t, paused, run)
				if sig == syscall.SIGTERM {
					run.terminate(t, paused)
				} else {
					run.cmd.Process.Signal(sig)
					<-run.done
					run.done <- nil
				}
				// Killed, the runner can push nothing: its last word is
				// "running" (1), which "taking a long time" watches.
				failedCleanly(t, was, keys, sig == syscall.SIGTERM)
				// What the stop left on the scratch does not stop the next run.
				r.mustRun(t, r.src, "publish", publish...)
			})
		}
	}
}
