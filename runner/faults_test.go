package runner_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

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
