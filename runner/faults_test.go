package runner_test

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/envsync/envsync/gen/kube"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/testenv"
)

// Faults of the database connection: the runner reaches PostgreSQL through
// Toxiproxy, whose proxy the test cuts (every open connection closed, new
// ones refused) at each phase of a restore, or which resets pg_dump's
// connection part-way through a backup. Every time: the operation fails,
// state 0 is pushed, live is intact (read on the server directly), and
// once the link is back the next run cleans up and succeeds.
func TestPostgreSQLConnectionLostAtEachPhase(t *testing.T) {
	r := newPGRig(t)
	tox := testenv.StartToxiproxy(t)
	proxy, host, port := tox.Proxy(t, "postgres-dst", r.dst.Host+":"+strconv.Itoa(r.dst.Port))
	srcProxy, srcHost, srcPort := tox.Proxy(t, "postgres-src", r.src.Host+":"+strconv.Itoa(r.src.Port))
	viaProxy := []string{"DB_HOST=" + host, "DB_PORT=" + strconv.Itoa(port)}
	script := "SANITISE_SCRIPT=" + writeScript(t, pgSanitise)
	r.mustRun(t, r.src, "backup")
	r.mustRun(t, r.dst, "restore", append(viaProxy, script)...)

	restoreState := func(t *testing.T) float64 {
		s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"operation": "restore"})
		if len(s) != 1 {
			t.Fatalf("restore series %+v", s)
		}
		return s[0].Value
	}

	for _, point := range []struct{ name, pause string }{
		{"during the load into the shadow", "restore"},
		{"during the sanitise script", "sanitise"},
		{"at the swap, with live refusing connections", "swap"},
	} {
		t.Run("the link cut "+point.name+": the restore fails, state 0, live intact; the next run cleans up", func(t *testing.T) {
			r.src.Exec(t, pgDatabase, "UPDATE people SET name = 'new copy' WHERE id = 2")
			r.mustRun(t, r.src, "backup")
			r.dst.Exec(t, pgDatabase, "UPDATE people SET name = 'marker of the old copy' WHERE id = 1")
			before := r.dst.Snapshot(t, pgDatabase)
			dir := t.TempDir()
			run := r.start(t, r.dst, "restore", append(viaProxy, script, "ENVSYNC_TEST_PAUSE="+point.pause+":"+dir)...)
			paused := filepath.Join(dir, point.pause)
			waitForFile(t, paused, run)
			if err := proxy.Disable(); err != nil {
				t.Fatal(err)
			}
			os.Remove(paused)
			err, logs := run.wait(t)
			if err == nil {
				t.Fatalf("the restore succeeded with its link cut:\n%s", logs)
			}
			if got := restoreState(t); got != 0 {
				t.Errorf("state %v pushed, want 0", got)
			}
			if err := proxy.Enable(); err != nil {
				t.Fatal(err)
			}
			// The swap's refusal of connections is undone by the next run;
			// to compare live now, allow them on the server directly.
			r.dst.Exec(t, "postgres", "ALTER DATABASE "+pgDatabase+" ALLOW_CONNECTIONS true")
			if ok, diff := before.Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
				t.Fatalf("live changed: %s", diff)
			}
			r.mustRun(t, r.dst, "restore", append(viaProxy, script)...)
			if side := pgSideDatabases(t, r.dst); len(side) != 0 {
				t.Errorf("databases left beside live after the next run: %v", side)
			}
			var n int64
			r.dst.Connect(t, pgDatabase).QueryRow(t.Context(), "SELECT count(*) FROM people WHERE name = 'marker of the old copy'").Scan(&n)
			if n != 0 {
				t.Error("live is still the old copy after the next run")
			}
		})
	}

	t.Run("pg_dump's connection reset part-way: the backup fails, state 0, no object, the pointer unchanged, no upload left", func(t *testing.T) {
		pointer := layout.PointerKey(pgInstance, pgDatabase)
		was := string(r.get(t, pointer))
		keys := r.s3.Keys(t, "dumps")
		// The server's side of every connection is closed after 64 KiB:
		// the runner's short queries pass, the dump's data does not.
		if _, err := srcProxy.AddToxic("cut", "limit_data", "downstream", 1, toxiproxy.Attributes{"bytes": 64 << 10}); err != nil {
			t.Fatal(err)
		}
		defer srcProxy.RemoveToxic("cut")
		err, logs := r.run(t, r.src, "backup", "DB_HOST="+srcHost, "DB_PORT="+strconv.Itoa(srcPort))
		if err == nil {
			t.Fatalf("the backup succeeded through a connection cut at 64 KiB:\n%s", logs)
		}
		s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"operation": "backup"})
		if len(s) != 1 || s[0].Value != 0 {
			t.Errorf("state pushed %+v, want 0", s)
		}
		if now := string(r.get(t, pointer)); now != was {
			t.Errorf("the pointer moved from %s to %s", was, now)
		}
		if after := r.s3.Keys(t, "dumps"); !slices.Equal(after, keys) {
			t.Errorf("the bucket went from %q to %q", keys, after)
		}
		if pending := r.s3.PendingUploads(t, "dumps"); len(pending) != 0 {
			t.Errorf("multipart uploads left: %v", pending)
		}
		if !strings.Contains(logs, "pg_dump") {
			t.Errorf("the failure does not name pg_dump:\n%s", logs)
		}
	})
}

// waitForFile waits until the paused run has created path.
func waitForFile(t *testing.T, path string, run *envsyncRun) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case err := <-run.done:
			run.done <- err
			t.Fatalf("the run ended (%v) before reaching %s:\n%s", err, filepath.Base(path), run.logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run never reached %s:\n%s", filepath.Base(path), run.logs.String())
		}
	}
}

// terminate sends the run SIGTERM, as Kubernetes does at the deadline or
// an eviction, and resumes it if it is paused at the file paused (""
// when it is not): the run must exit non-zero within the pod's grace
// period, its failure and the outside stop logged. It returns the logs.
func (run *envsyncRun) terminate(t *testing.T, paused string) string {
	t.Helper()
	sent := time.Now()
	run.cmd.Process.Signal(syscall.SIGTERM)
	if paused != "" {
		// Resume only once the run has seen the signal, so that the stop
		// lands in the phase the run is paused in (resumed at once, a busy
		// machine could let the run go on a step before the signal arrives).
		run.waitForLog(t, `"msg":"stop requested`)
		os.Remove(paused)
	}
	err, logs := run.wait(t)
	took := time.Since(sent)
	t.Logf("ended %s after SIGTERM", took.Round(time.Millisecond))
	if grace := time.Duration(kube.TerminationGracePeriodSeconds) * time.Second; took > grace {
		t.Errorf("the run took %s after SIGTERM, longer than the pod's grace period %s", took, grace)
	}
	if err == nil {
		t.Fatalf("the run exited 0 after SIGTERM:\n%s", logs)
	}
	if !hasLine(logs, `"msg":"operation failed"`, "stopped (terminated signal received)") {
		t.Errorf("the failure and its reason are not logged:\n%s", logs)
	}
	return logs
}

// waitForLog waits until the run's logs hold line.
func (run *envsyncRun) waitForLog(t *testing.T, line string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(run.logs.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("the run never logged %s:\n%s", line, run.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// faultyS3 sits between the runner and the S3 server at the HTTP level,
// for what Toxiproxy cannot do: S3's own error answers. It answers the
// first attempt of every UploadPart with 503 SlowDown, and the first
// CompleteMultipartUpload with a 200 whose body is an error (which S3 may
// send once it has started answering).
type faultyS3 struct {
	URL                 string
	mu                  sync.Mutex
	seen                map[string]bool
	slowDowns, okErrors int
	// stallAfter, when not 0, makes every GET of a key ending in
	// stallSuffix (default a dump's ".zst") send that many bytes of the
	// body, then nothing more, without closing.
	stallAfter  int
	stallSuffix string
	stalled     int
}

// stalling passes stallAfter bytes of a response, then blocks until the
// client goes away.
type stalling struct {
	http.ResponseWriter
	left int
	done <-chan struct{}
}

func (w *stalling) Write(p []byte) (int, error) {
	if len(p) <= w.left {
		w.left -= len(p)
		return w.ResponseWriter.Write(p)
	}
	n, _ := w.ResponseWriter.Write(p[:w.left])
	w.left = 0
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	<-w.done
	return n, io.ErrClosedPipe
}

func startFaultyS3(t *testing.T, upstream string) *faultyS3 {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	f := &faultyS3{seen: map[string]bool{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		f.mu.Lock()
		first := !f.seen[req.Method+req.URL.RawQuery]
		f.seen[req.Method+req.URL.RawQuery] = true
		switch {
		case first && req.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId"):
			f.slowDowns++
			f.mu.Unlock()
			io.Copy(io.Discard, req.Body)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		case first && req.Method == http.MethodPost && q.Has("uploadId"):
			f.okErrors++
			f.mu.Unlock()
			io.Copy(io.Discard, req.Body)
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`)
			return
		}
		if f.stallAfter > 0 && req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, cmp.Or(f.stallSuffix, ".zst")) {
			f.stalled++
			f.mu.Unlock()
			proxy.ServeHTTP(&stalling{ResponseWriter: w, left: f.stallAfter, done: req.Context().Done()}, req)
			return
		}
		f.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Faults of S3: the runner reaches versitygw through faultyS3 (S3 errors)
// or Toxiproxy (connections closed part-way, a download that stalls). A
// backup completes with an object that matches its checksum, or fails with
// state 0, the pointer unchanged and no multipart upload left; a restore
// completes or fails with live intact and nothing left beside it.
func TestS3FaultsDuringBackupAndRestore(t *testing.T) {
	r := newPGRig(t)
	// Random bytes do not compress: a dump of about 13 MB, three parts.
	r.src.Exec(t, pgDatabase, `CREATE TABLE blobs AS SELECT i, decode(md5(random()::text) || md5(random()::text), 'hex') AS b FROM generate_series(1, 400000) i`)
	r.mustRun(t, r.src, "backup")
	r.mustRun(t, r.dst, "restore")
	pointer := layout.PointerKey(pgInstance, pgDatabase)
	tox := testenv.StartToxiproxy(t)
	endpoint, _ := url.Parse(r.s3.Endpoint)
	proxy, host, port := tox.Proxy(t, "s3", endpoint.Host)
	viaProxy := "AWS_ENDPOINT_URL_S3=http://" + host + ":" + strconv.Itoa(port)
	parts := "ENVSYNC_PART_SIZE_MIB=5"
	state := func(t *testing.T, op string) float64 {
		s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"operation": op})
		if len(s) != 1 {
			t.Fatalf("%s series %+v", op, s)
		}
		return s[0].Value
	}
	// cleanBackupFailure checks what a failed backup must leave.
	cleanBackupFailure := func(t *testing.T, was string, keys []string) {
		t.Helper()
		if got := state(t, "backup"); got != 0 {
			t.Errorf("state %v pushed, want 0", got)
		}
		if now := string(r.get(t, pointer)); now != was {
			t.Errorf("the pointer moved from %s to %s", was, now)
		}
		if after := r.s3.Keys(t, "dumps"); !slices.Equal(after, keys) {
			t.Errorf("the bucket went from %q to %q", keys, after)
		}
	}
	// restoreFailedCleanly checks what a failed restore must leave.
	restoreFailedCleanly := func(t *testing.T, before testenv.Snapshot) {
		t.Helper()
		if got := state(t, "restore"); got != 0 {
			t.Errorf("state %v pushed, want 0", got)
		}
		if ok, diff := before.Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
			t.Fatalf("live changed: %s", diff)
		}
		if side := pgSideDatabases(t, r.dst); len(side) != 0 {
			t.Errorf("databases left beside live: %v", side)
		}
	}
	noUploadsLeft := func(t *testing.T) {
		t.Helper()
		if pending := r.s3.PendingUploads(t, "dumps"); len(pending) != 0 {
			t.Errorf("multipart uploads left: %v", pending)
		}
	}

	t.Run("503 SlowDown on every part's first attempt and a 200 carrying an error on completing: retried, or failed cleanly", func(t *testing.T) {
		faulty := startFaultyS3(t, r.s3.Endpoint)
		was, keys := string(r.get(t, pointer)), r.s3.Keys(t, "dumps")
		err, logs := r.run(t, r.src, "backup", parts, "AWS_ENDPOINT_URL_S3="+faulty.URL)
		if faulty.slowDowns < 2 || faulty.okErrors < 1 {
			t.Fatalf("the faults were not injected (%d SlowDown, %d 200-with-error): the test proves nothing\n%s", faulty.slowDowns, faulty.okErrors, logs)
		}
		noUploadsLeft(t)
		if err != nil {
			t.Logf("the backup failed: %v", err)
			cleanBackupFailure(t, was, keys)
			return
		}
		key := string(r.get(t, pointer))
		if key == was {
			t.Fatal("the backup succeeded but the pointer did not move")
		}
		sum := sha256.Sum256(r.get(t, key))
		if side := strings.Fields(string(r.get(t, key+".sha256"))); len(side) == 0 || side[0] != hex.EncodeToString(sum[:]) {
			t.Errorf("the object's SHA-256 %x does not match its sidecar %q", sum, side)
		}
		t.Logf("the backup completed after %d SlowDown and %d 200-with-error answers", faulty.slowDowns, faulty.okErrors)
	})

	t.Run("every S3 connection closed after 1 MiB sent: the backup fails cleanly, its upload aborted", func(t *testing.T) {
		was, keys := string(r.get(t, pointer)), r.s3.Keys(t, "dumps")
		if _, err := proxy.AddToxic("cut", "limit_data", "upstream", 1, toxiproxy.Attributes{"bytes": 1 << 20}); err != nil {
			t.Fatal(err)
		}
		err, logs := r.run(t, r.src, "backup", parts, viaProxy)
		proxy.RemoveToxic("cut")
		if err == nil {
			t.Fatalf("the backup succeeded through connections closed after 1 MiB:\n%s", logs)
		}
		cleanBackupFailure(t, was, keys)
		noUploadsLeft(t)
	})

	t.Run("the download closed part-way: the restore fails, live intact, no shadow left", func(t *testing.T) {
		r.dst.Exec(t, pgDatabase, "UPDATE people SET name = 'marker of the old copy' WHERE id = 1")
		before := r.dst.Snapshot(t, pgDatabase)
		if _, err := proxy.AddToxic("cut", "limit_data", "downstream", 1, toxiproxy.Attributes{"bytes": 2 << 20}); err != nil {
			t.Fatal(err)
		}
		err, logs := r.run(t, r.dst, "restore", viaProxy)
		proxy.RemoveToxic("cut")
		if err == nil {
			t.Fatalf("the restore succeeded with its download cut at 2 MiB:\n%s", logs)
		}
		restoreFailedCleanly(t, before)
	})

	t.Run("the download closed part-way while the local copy is written: the restore fails, live intact, nothing left", func(t *testing.T) {
		before := r.dst.Snapshot(t, pgDatabase)
		tmp := t.TempDir()
		if _, err := proxy.AddToxic("cut", "limit_data", "downstream", 1, toxiproxy.Attributes{"bytes": 2 << 20}); err != nil {
			t.Fatal(err)
		}
		err, logs := r.run(t, r.dst, "restore", viaProxy, "ENVSYNC_RESTORE_LOCAL_COPY=true", "TMPDIR="+tmp)
		proxy.RemoveToxic("cut")
		if err == nil {
			t.Fatalf("the restore succeeded with its download cut at 2 MiB:\n%s", logs)
		}
		if !strings.Contains(logs, "verifying the dump before touching any database") {
			t.Fatalf("the run was not writing a local copy: the test proves less than it says:\n%s", logs)
		}
		restoreFailedCleanly(t, before)
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("left in TMPDIR: %v", left)
		}
	})

	t.Run("SIGTERM during the upload: the upload aborted, no object, the pointer unchanged, state 0", func(t *testing.T) {
		was, keys := string(r.get(t, pointer)), r.s3.Keys(t, "dumps")
		// A narrow link keeps the upload going for a while.
		if _, err := proxy.AddToxic("narrow", "bandwidth", "upstream", 1, toxiproxy.Attributes{"rate": 256}); err != nil {
			t.Fatal(err)
		}
		defer proxy.RemoveToxic("narrow")
		run := r.start(t, r.src, "backup", parts, viaProxy)
		deadline := time.Now().Add(time.Minute)
		for len(r.s3.PendingUploads(t, "dumps")) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no multipart upload began:\n%s", run.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		run.terminate(t, "")
		cleanBackupFailure(t, was, keys)
		noUploadsLeft(t)
	})

	t.Run("the pointer's download stalls: the restore fails after ENVSYNC_STALL_TIMEOUT; live intact", func(t *testing.T) {
		before := r.dst.Snapshot(t, pgDatabase)
		faulty := startFaultyS3(t, r.s3.Endpoint)
		faulty.stallAfter, faulty.stallSuffix = 1, ".txt"
		err, logs := r.run(t, r.dst, "restore", "AWS_ENDPOINT_URL_S3="+faulty.URL, "ENVSYNC_STALL_TIMEOUT=3s")
		if faulty.stalled == 0 {
			t.Fatalf("the pointer's download was not stalled: the test proves nothing\n%s", logs)
		}
		if err == nil || !hasLine(logs, `"msg":"operation failed"`, "took more than 3s (ENVSYNC_STALL_TIMEOUT)") {
			t.Fatalf("the restore did not fail on the stall (%v):\n%s", err, logs)
		}
		restoreFailedCleanly(t, before)
	})

	t.Run("the download stalls: the restore fails after ENVSYNC_STALL_TIMEOUT, not at the job's deadline; live intact", func(t *testing.T) {
		before := r.dst.Snapshot(t, pgDatabase)
		faulty := startFaultyS3(t, r.s3.Endpoint)
		faulty.stallAfter = 2 << 20
		err, logs := r.run(t, r.dst, "restore", "AWS_ENDPOINT_URL_S3="+faulty.URL, "ENVSYNC_STALL_TIMEOUT=3s")
		if faulty.stalled == 0 {
			t.Fatalf("no download was stalled: the test proves nothing\n%s", logs)
		}
		if err == nil {
			t.Fatalf("the restore succeeded through a stalled download:\n%s", logs)
		}
		if !hasLine(logs, `"msg":"operation failed"`, "received nothing for 3s (ENVSYNC_STALL_TIMEOUT)") {
			t.Errorf("the failure does not say the download stalled:\n%s", logs)
		}
		restoreFailedCleanly(t, before)
	})
}

// The same for MariaDB: the link cut while rows load into the shadow,
// while the sanitise script runs, and just before the RENAME TABLE.
func TestMySQLConnectionLostAtEachPhase(t *testing.T) {
	e := newMyEstate(t)
	mustRun(t, e, e.src, "backup")
	tox := testenv.StartToxiproxy(t)
	proxy, host, port := tox.Proxy(t, "mariadb-dst", e.dst.Host+":"+strconv.Itoa(e.dst.Port))
	viaProxy := []string{"DB_HOST=" + host, "DB_PORT=" + strconv.Itoa(port)}
	script := filepath.Join(t.TempDir(), "sanitise.sql")
	os.WriteFile(script, []byte("UPDATE users SET email = CONCAT('user', id, '@example.invalid');\n"), 0o644)
	t.Run("mariadb-dump's connection closed part-way: the backup fails, state 0, the pointer unchanged", func(t *testing.T) {
		srcProxy, srcHost, srcPort := tox.Proxy(t, "mariadb-src", e.src.Host+":"+strconv.Itoa(e.src.Port))
		pointer := layout.PointerKey(myInstance, myDatabase)
		was := myS3Read(t, e, pointer)
		// Enough for the runner's own queries, not for the dump's rows.
		if _, err := srcProxy.AddToxic("cut", "limit_data", "downstream", 1, toxiproxy.Attributes{"bytes": 16 << 10}); err != nil {
			t.Fatal(err)
		}
		out, err := e.run(t, e.src, "backup", "DB_HOST="+srcHost, "DB_PORT="+strconv.Itoa(srcPort))
		if err == nil {
			t.Fatalf("the backup succeeded through a connection closed after 16 KiB:\n%s", out)
		}
		if got := jobState(t, e.pg, "backup"); got != 0 {
			t.Errorf("state %v pushed, want 0", got)
		}
		if now := myS3Read(t, e, pointer); !bytes.Equal(now, was) {
			t.Errorf("the pointer moved from %s to %s", was, now)
		}
		if pending := e.s3.PendingUploads(t, e.bucket); len(pending) != 0 {
			t.Errorf("multipart uploads left: %v", pending)
		}
	})

	for _, point := range []string{"restore", "sanitise", "swap"} {
		t.Run("the link cut during "+point, func(t *testing.T) {
			before := mySnap(t, e.dst)
			dir := t.TempDir()
			run := e.start(t, e.dst, "restore", append(viaProxy, "SANITISE_SCRIPT="+script, "ENVSYNC_TEST_PAUSE="+point+":"+dir)...)
			paused := filepath.Join(dir, point)
			waitForFile(t, paused, run)
			if err := proxy.Disable(); err != nil {
				t.Fatal(err)
			}
			os.Remove(paused)
			err, logs := run.wait(t)
			if err == nil {
				t.Fatalf("the restore succeeded with its link cut:\n%s", logs)
			}
			if got := jobState(t, e.pg, "restore"); got != 0 {
				t.Errorf("state %v pushed, want 0", got)
			}
			if err := proxy.Enable(); err != nil {
				t.Fatal(err)
			}
			assertMySame(t, "live after the link was cut during "+point, mySnap(t, e.dst), before)
			mustRun(t, e, e.dst, "restore", append(viaProxy, "SANITISE_SCRIPT="+script)...)
			assertNoMyWorkingSchemas(t, e.dst)
		})
	}
}

// /tmp full when the MySQL client's option file is written: a clear error
// naming the option file and the lack of space, state 0, live untouched.
func TestAFullTmpFailsAMySQLRestoreClearlyAndLeavesLiveUntouched(t *testing.T) {
	e := newMyEstate(t)
	mustRun(t, e, e.src, "backup")
	before := mySnap(t, e.dst)
	tmp := testenv.SmallTmpfs(t, "64k")
	fill(t, tmp, 0)
	out, err := e.run(t, e.dst, "restore", "TMPDIR="+tmp)
	if err == nil {
		t.Fatalf("the restore succeeded with /tmp full:\n%s", out)
	}
	if !hasLine(out, `"msg":"operation failed"`, "option file", "no space left on device") {
		t.Errorf("the failure does not say the option file found no space:\n%s", out)
	}
	if got := jobState(t, e.pg, "restore"); got != 0 {
		t.Errorf("state %v pushed, want 0", got)
	}
	assertMySame(t, "live after a restore with /tmp full", mySnap(t, e.dst), before)
	assertNoMyWorkingSchemas(t, e.dst)
}

// /tmp (on disk) fills up while the local copy of a restore is written:
// the copy is given up, its space freed, and the restore streams the dump
// again and completes.
func TestATmpThatFillsUpDuringTheLocalCopyMakesTheRestoreStreamInstead(t *testing.T) {
	r := newPGRig(t)
	r.mustRun(t, r.src, "backup")
	// The local copy only starts with more than 1 GiB + 64 MiB free.
	tmp := testenv.LoopExt4(t, "1300M")
	dir := t.TempDir()
	run := r.start(t, r.dst, "restore", "TMPDIR="+tmp, "ENVSYNC_RESTORE_LOCAL_COPY=true", "ENVSYNC_TEST_PAUSE=check:"+dir)
	paused := filepath.Join(dir, "check")
	waitForFile(t, paused, run)
	fill(t, tmp, 64<<10)
	os.Remove(paused)
	err, logs := run.wait(t)
	if err != nil {
		t.Fatalf("the restore failed when its local copy ran out of space: %v\n%s", err, logs)
	}
	if !hasLine(logs, "no local copy of the dump; downloading it again", "no space left on device") {
		t.Errorf("the logs do not say the local copy was given up for lack of space:\n%s", logs)
	}
	if ok, diff := r.src.Snapshot(t, pgDatabase).Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
		t.Fatalf("restored data differs: %s", diff)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 2 { // lost+found and the filler
		t.Errorf("left in TMPDIR: %v", left)
	}
}

// fill takes the free space of dir's filesystem down to leave bytes.
func fill(t *testing.T, dir string, leave int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Written, not allocated: tmpfs and ext4 both count written blocks.
	chunk := make([]byte, 64<<10)
	for left := free - leave; left > 0; left -= int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
			break // full
		}
	}
	f.Sync()
}

// A slow, jittery network: every link (S3 and the database) 40 ms ± 20 ms
// late each way and the S3 one limited to 2 MB/s. Backup and restore
// complete, and the restored data is the backed-up data.
func TestBackupAndRestoreThroughASlowJitteryNetwork(t *testing.T) {
	r := newPGRig(t)
	tox := testenv.StartToxiproxy(t)
	endpoint, _ := url.Parse(r.s3.Endpoint)
	s3p, s3Host, s3Port := tox.Proxy(t, "s3", endpoint.Host)
	srcp, srcHost, srcPort := tox.Proxy(t, "src", r.src.Host+":"+strconv.Itoa(r.src.Port))
	dstp, dstHost, dstPort := tox.Proxy(t, "dst", r.dst.Host+":"+strconv.Itoa(r.dst.Port))
	for _, p := range []*toxiproxy.Proxy{s3p, srcp, dstp} {
		for _, dir := range []string{"upstream", "downstream"} {
			if _, err := p.AddToxic("late-"+dir, "latency", dir, 1, toxiproxy.Attributes{"latency": 40, "jitter": 20}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s3p.AddToxic("narrow", "bandwidth", "downstream", 1, toxiproxy.Attributes{"rate": 2048}); err != nil {
		t.Fatal(err)
	}
	s3 := "AWS_ENDPOINT_URL_S3=http://" + s3Host + ":" + strconv.Itoa(s3Port)
	r.mustRun(t, r.src, "backup", s3, "DB_HOST="+srcHost, "DB_PORT="+strconv.Itoa(srcPort))
	r.mustRun(t, r.dst, "restore", s3, "DB_HOST="+dstHost, "DB_PORT="+strconv.Itoa(dstPort))
	if ok, diff := r.src.Snapshot(t, pgDatabase).Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
		t.Fatalf("restored data differs: %s", diff)
	}
}

// SIGTERM at each phase of a MySQL restore: the run stops its client,
// drops its shadow, pushes state 0 with the reason and exits non-zero;
// live is intact and nothing is left for the next run.
func TestSIGTERMAtEachPhaseOfAMySQLRestore(t *testing.T) {
	e := newMyEstate(t)
	mustRun(t, e, e.src, "backup")
	script := filepath.Join(t.TempDir(), "sanitise.sql")
	os.WriteFile(script, []byte("UPDATE users SET email = CONCAT('user', id, '@example.invalid');\n"), 0o644)
	for _, point := range []string{"restore", "sanitise"} {
		t.Run("SIGTERM during "+point, func(t *testing.T) {
			before := mySnap(t, e.dst)
			dir := t.TempDir()
			run := e.start(t, e.dst, "restore", "SANITISE_SCRIPT="+script, "ENVSYNC_TEST_PAUSE="+point+":"+dir)
			paused := filepath.Join(dir, point)
			waitForFile(t, paused, run)
			run.terminate(t, paused)
			if got := jobState(t, e.pg, "restore"); got != 0 {
				t.Errorf("state %v pushed, want 0", got)
			}
			assertMySame(t, "live after SIGTERM during "+point, mySnap(t, e.dst), before)
			assertNoMyWorkingSchemas(t, e.dst)
		})
	}
	// What a complete sanitised restore leaves in live, to compare with.
	mustRun(t, e, e.dst, "restore", "SANITISE_SCRIPT="+script)
	restored := mySnap(t, e.dst)
	e.dst.Exec(t, myDatabase, "UPDATE users SET email = 'changed-since@example.org' WHERE id = 1")
	old := mySnap(t, e.dst)

	// A stop that lands just before the swap may find it begun: live is
	// then the complete old copy and the run failed, or the complete new
	// one and the run succeeded, never a mix (issue 31: a SIGTERM that
	// landed inside the swap left live with the new tables, without their
	// triggers and views, and the old schema behind). The stop is sent a
	// moment after the run resumes, so that both outcomes are exercised.
	for _, delay := range []time.Duration{0, 5 * time.Millisecond, 15 * time.Millisecond, 30 * time.Millisecond} {
		t.Run(fmt.Sprintf("SIGTERM %s after the swap may begin", delay), func(t *testing.T) {
			e.dst.Exec(t, myDatabase, "UPDATE users SET email = 'changed-since@example.org' WHERE id = 1")
			dir := t.TempDir()
			run := e.start(t, e.dst, "restore", "SANITISE_SCRIPT="+script, "ENVSYNC_TEST_PAUSE=swap:"+dir)
			paused := filepath.Join(dir, "swap")
			waitForFile(t, paused, run)
			os.Remove(paused)
			time.Sleep(delay)
			run.cmd.Process.Signal(syscall.SIGTERM)
			err, logs := run.wait(t)
			state := jobState(t, e.pg, "restore")
			got := mySnap(t, e.dst)
			switch {
			case err != nil && state == 0:
				t.Logf("stopped before the swap: live is the old copy")
				assertMySame(t, "live after a failed run", got, old)
			case err == nil && state == 2:
				t.Logf("stopped once the swap had begun: it completed")
				assertMySame(t, "live after a run that completed its swap", got, restored)
			default:
				t.Errorf("the run ended with %v and pushed state %v:\n%s", err, state, logs)
			}
			assertNoMyWorkingSchemas(t, e.dst)
		})
	}
	// Stopped between the RENAME and the recreation of triggers and views:
	// the swap runs to its end, and so does the run.
	t.Run("SIGTERM inside the swap", func(t *testing.T) {
		e.dst.Exec(t, myDatabase, "UPDATE users SET email = 'changed-since@example.org' WHERE id = 1")
		dir := t.TempDir()
		run := e.start(t, e.dst, "restore", "SANITISE_SCRIPT="+script, "ENVSYNC_TEST_PAUSE=mid-swap:"+dir)
		paused := filepath.Join(dir, "mid-swap")
		waitForFile(t, paused, run)
		run.cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(100 * time.Millisecond) // the stop is seen before the swap resumes
		os.Remove(paused)
		if err, logs := run.wait(t); err != nil {
			t.Errorf("the run failed after its swap had begun: %v\n%s", err, logs)
		}
		if got := jobState(t, e.pg, "restore"); got != 2 {
			t.Errorf("state %v pushed, want 2: the restore completed", got)
		}
		assertMySame(t, "live after SIGTERM inside the swap", mySnap(t, e.dst), restored)
		assertNoMyWorkingSchemas(t, e.dst)
	})
}

// SIGTERM at each phase of a Mongo restore (loading, sanitising, before
// the swap, between two renames of the swap on FerretDB): the run puts
// every live collection back as it was, drops what it staged, pushes
// state 0 and exits non-zero.
func TestSIGTERMAtEachPhaseOfAMongoRestore(t *testing.T) {
	r := newMongoRig(t)
	const db = "publisher_production"
	r.put(t, mongoInstance+"/2026-11-30T001300Z-"+db+".gz", fixture(t, "2026-11-30T001300Z-"+db+".gz"))
	r.mustRun(t, r.dst, "restore", db)
	for _, point := range []string{"restore", "sanitise", "swap", "mid-swap"} {
		t.Run("SIGTERM during "+point, func(t *testing.T) {
			before := mongoSnapshot(t, r.dst, db)
			dir := t.TempDir()
			cmd, logs, done := r.start(t, r.dst, "restore", db, "SANITISE_SCRIPT="+writeScript(t, mongoSanitise), "ENVSYNC_TEST_PAUSE="+point+":"+dir)
			run := &envsyncRun{cmd: cmd, logs: logs, done: done}
			paused := filepath.Join(dir, point)
			waitForFile(t, paused, run)
			run.terminate(t, paused)
			s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"database_db_name": db, "operation": "restore"})
			if len(s) != 1 || s[0].Value != 0 {
				t.Errorf("state pushed %+v, want 0", s)
			}
			if after := mongoSnapshot(t, r.dst, db); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("live changed after SIGTERM during %s", point)
			}
			assertNoMongoWorking(t, r.dst, db)
		})
	}
}

// Two Mongo restores of one database at once (a manual job beside the
// scheduled one): the second refuses while the first holds its lease, and
// the first completes; a rerun under the same pod name takes over a lease
// its killed predecessor left.
func TestASecondMongoRestoreStartedWhileOneRunsRefusesAndTheFirstCompletes(t *testing.T) {
	r := newMongoRig(t)
	const db = "publisher_production"
	r.put(t, mongoInstance+"/2026-11-30T001300Z-"+db+".gz", fixture(t, "2026-11-30T001300Z-"+db+".gz"))
	want := ""
	dir := t.TempDir()
	cmd, logs, done := r.start(t, r.dst, "restore", db, "HOSTNAME=shared-documentdb-manual-abcde", "ENVSYNC_TEST_PAUSE=restore:"+dir)
	first := &envsyncRun{cmd: cmd, logs: logs, done: done}
	paused := filepath.Join(dir, "restore")
	waitForFile(t, paused, first)
	out, err := r.run(t, r.dst, "restore", db)
	if err == nil || !hasLine(out, `"msg":"operation failed"`, "another restore of "+db+" is running (shared-documentdb-manual-abcde holds it until") {
		t.Fatalf("the second restore did not refuse (%v):\n%s", err, out)
	}
	os.Remove(paused)
	if err, logs := first.wait(t); err != nil {
		t.Fatalf("the first restore failed after the second refused: %v\n%s", err, logs)
	}
	snap := mongoSnapshot(t, r.dst, db)
	if len(snap) == 0 {
		t.Fatal("nothing restored")
	}
	want = fmt.Sprint(snap)
	assertNoMongoWorking(t, r.dst, db)

	// Killed while holding the lease: a rerun of the same job run (same
	// pod name) takes it over at once; the lease is given back at the end.
	dir = t.TempDir()
	cmd, logs, done = r.start(t, r.dst, "restore", db, "HOSTNAME=shared-documentdb-29012345-abcde", "ENVSYNC_TEST_PAUSE=restore:"+dir)
	waitForFile(t, filepath.Join(dir, "restore"), &envsyncRun{cmd: cmd, logs: logs, done: done})
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	r.mustRun(t, r.dst, "restore", db, "HOSTNAME=shared-documentdb-29012345-abcde")
	if got := fmt.Sprint(mongoSnapshot(t, r.dst, db)); got != want {
		t.Error("live after the rerun differs from the dump")
	}
	if n, err := r.dst.Client().Database("envsync_locks").Collection("restores").CountDocuments(t.Context(), map[string]any{}); err != nil || n != 0 {
		t.Errorf("%d leases left (%v)", n, err)
	}
}
