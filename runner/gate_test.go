package runner_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envsync/envsync/contract"
)

// writeClassification writes the classification of pgFixture, as the
// generator writes it into the scripts ConfigMap, without the columns in
// skip.
func writeClassification(t *testing.T, skip ...string) string {
	t.Helper()
	c := contract.Classification{Sync: "content-postgres", Declared: "syncs/content.cue:3", Tables: map[string]map[string]string{
		"people":       {"id": "public", "email": "personal", "name": "personal", "mood": "public", "born": "public", "note": "public"},
		"audit.events": {"id": "public", "person": "public", "payload": "personal"},
	}}
	for _, s := range skip {
		table, col, _ := strings.Cut(s, "/")
		delete(c.Tables[table], col)
	}
	b, _ := json.Marshal(c)
	p := filepath.Join(t.TempDir(), contract.ClassificationFile("content-postgres"))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The runner as the CronJob runs it, with the classification the
// generator mounts: a column added upstream and not classified fails the
// sanitising restore, naming it, with state 0 pushed and the gate's counts
// beside it; live keeps its copy. Classified, the same restore goes live.
func TestASanitisingRestoreProvesItsWorkOrFails(t *testing.T) {
	r := newPGRig(t)
	r.src.Exec(t, pgDatabase, "ALTER TABLE people ADD COLUMN phone_number text DEFAULT '07700 900123'")
	r.mustRun(t, r.src, "backup")
	r.mustRun(t, r.dst, "restore") // integration's current copy
	before := r.dst.Snapshot(t, pgDatabase)
	script := writeScript(t, pgSanitise)

	err, logs := r.run(t, r.dst, "restore", "SANITISE_SCRIPT="+script, "CLASSIFICATION="+writeClassification(t))
	if err == nil || !hasLine(logs, `"msg":"operation failed"`, "not classified: people.phone_number") || !strings.Contains(logs, "syncs/content.cue:3") {
		t.Fatalf("a restore with an unclassified column: %v\n%s", err, logs)
	}
	if ok, diff := before.Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
		t.Fatalf("live changed: %s", diff)
	}
	if s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"operation": "restore"}); len(s) != 1 || s[0].Value != 0 {
		t.Errorf("state %+v, want 0", s)
	}
	if s := r.pgw.Series(t, "db_backup_gate_findings", map[string]string{"operation": "restore"}); len(s) != 1 {
		t.Errorf("the gate's findings were not pushed: %+v", s)
	}

	// Classified as personal, and the script does not change it: refused.
	withPhone := writeClassification(t)
	b, _ := os.ReadFile(withPhone)
	os.WriteFile(withPhone, []byte(strings.Replace(string(b), `"people":{`, `"people":{"phone_number":"personal",`, 1)), 0o644)
	err, logs = r.run(t, r.dst, "restore", "SANITISE_SCRIPT="+script, "CLASSIFICATION="+withPhone)
	if err == nil || !strings.Contains(logs, "people.phone_number is personal but the script left it unchanged") {
		t.Fatalf("a restore that forgets a personal column: %v\n%s", err, logs)
	}
	if strings.Contains(logs, "07700") {
		t.Errorf("a value reached the logs:\n%s", logs)
	}

	// The script does its work: the copy goes live, the gate's counts with it.
	fixed := writeScript(t, pgSanitise+"UPDATE people SET phone_number = NULL;\n")
	r.mustRun(t, r.dst, "restore", "SANITISE_SCRIPT="+fixed, "CLASSIFICATION="+withPhone)
	if s := r.pgw.Series(t, "db_backup_gate_columns_checked", map[string]string{"operation": "restore"}); len(s) != 1 || s[0].Value < 4 {
		t.Errorf("columns checked %+v, want at least 4", s)
	}
	var left int
	r.dst.Connect(t, pgDatabase).QueryRow(t.Context(), pgUnsanitised+" + (SELECT count(phone_number) FROM people)").Scan(&left)
	if left != 0 {
		t.Errorf("%d personal values went live", left)
	}
}
