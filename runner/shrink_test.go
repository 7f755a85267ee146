package runner_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/catalog"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/storage"
)

// A table truncated upstream by accident: the next backup is far smaller
// than the last complete one, so it does not move the pointer (tomorrow's
// restores keep reading the good dump), pushes state 0 naming both sizes,
// and stays listed as held; an operator's rerun with
// ENVSYNC_ACCEPT_SHRUNK_DUMP=true moves the pointer.
func TestADumpThatShrankHoldsThePointer(t *testing.T) {
	r := newPGRig(t)
	r.mustRun(t, r.src, "backup")
	pointer := layout.PointerKey(pgInstance, pgDatabase)
	good := strings.TrimSpace(string(r.get(t, pointer)))

	r.src.Exec(t, pgDatabase, "TRUNCATE people CASCADE")
	err, logs := r.run(t, r.src, "backup")
	if err == nil || !hasLine(logs, `"msg":"operation failed"`, "less than 0.5 of the previous complete one ("+good) {
		t.Fatalf("a backup of a truncated table: %v\n%s", err, logs)
	}
	if got := strings.TrimSpace(string(r.get(t, pointer))); got != good {
		t.Errorf("the pointer moved to %s", got)
	}
	if s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"operation": "backup"}); len(s) != 1 || s[0].Value != 0 {
		t.Errorf("state %+v, want 0", s)
	}
	st := r.store(t)
	entries, lerr := catalog.List(t.Context(), st, pgInstance, pgDatabase, false)
	if lerr != nil || len(entries) != 2 || !entries[0].Held || !entries[1].Latest {
		t.Errorf("the listing: %+v (%v), want the new dump held and the old one latest", entries, lerr)
	}

	r.mustRun(t, r.src, "backup", "ENVSYNC_ACCEPT_SHRUNK_DUMP=true")
	if got := strings.TrimSpace(string(r.get(t, pointer))); got == good {
		t.Error("the accepted backup did not move the pointer")
	}
}

// store opens the rig's bucket as the runner does.
func (r *pgRig) store(t *testing.T) storage.Store {
	t.Helper()
	st := storage.NewS3(r.s3.Config(), "dumps", storage.S3Options{})
	return st
}

// ENVSYNC_KEEP_DUMPS: each successful backup leaves the newest N dumps
// (the pointer's among them) and removes the rest, sidecars too.
func TestABackupKeepsTheNewestDumps(t *testing.T) {
	r := newPGRig(t)
	for range 3 {
		r.mustRun(t, r.src, "backup", "ENVSYNC_KEEP_DUMPS=2")
		time.Sleep(1100 * time.Millisecond) // keys are to the second
	}
	entries, err := catalog.List(t.Context(), r.store(t), pgInstance, pgDatabase, false)
	if err != nil || len(entries) != 2 || !entries[0].Latest {
		t.Fatalf("after three backups keeping 2: %+v (%v)", entries, err)
	}
	keys, _ := r.store(t).List(t.Context(), pgInstance+"/")
	if len(keys) != 7 { // 2 dumps, each with its checksum and row counts, the pointer
		t.Errorf("objects left: %v", keys)
	}
}

// A backup keeping dumps by age removes one older than the days given,
// with its sidecar, and leaves a pinned one however old.
func TestABackupKeepsDumpsByAgeAndLeavesAPinnedOne(t *testing.T) {
	r := newPGRig(t)
	st := r.store(t)
	var old []string
	for _, ago := range []int{9, 5} {
		k := pgInstance + "/" + time.Now().UTC().AddDate(0, 0, -ago).Format(layout.TimeFormat) + "-" + pgDatabase + ".pgdump.zst"
		old = append(old, k)
		r.put(t, k, []byte("an old dump"))
		r.put(t, layout.ChecksumKey(k), []byte("0  x\n"))
	}
	if err := catalog.Pin(t.Context(), st, old[0], "kept for the audit"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r.mustRun(t, r.src, "backup", "ENVSYNC_KEEP_DAYS=3")
		time.Sleep(1100 * time.Millisecond) // keys are to the second
	}
	keys, _ := st.List(t.Context(), pgInstance+"/")
	if slices.Contains(keys, old[1]) || slices.Contains(keys, layout.ChecksumKey(old[1])) {
		t.Errorf("the 5-day-old dump or its sidecar survived a backup keeping 3 days: %v", keys)
	}
	if !slices.Contains(keys, old[0]) {
		t.Errorf("the pinned dump was removed: %v", keys)
	}
	if entries, _ := catalog.List(t.Context(), st, pgInstance, pgDatabase, false); len(entries) != 3 {
		t.Errorf("dumps left: %+v, want the two new ones and the pinned one", entries)
	}
}
