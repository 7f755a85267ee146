package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const parkingSync = "package syncs\n\nsyncs: \"parking-postgres\": {\n\tengine: \"postgres\"\n\tdatabase: \"parking_production\"\n\tpersonalData: false\n\tenvironments: {\n\t\tproduction: at: \"23:50\"\n\t\tstaging: at: \"02:50\"\n\t\tintegration: at: \"05:50\"\n\t}\n}\n"

// change adds a sync to the estate in dir, moves publisher's staging job
// early enough that integration no longer may read an older dump (a hazard
// goes), and edits chat's sanitise script.
func change(t *testing.T, dir string) {
	t.Helper()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, "syncs", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("parking.cue", parkingSync)
	pub, _ := os.ReadFile(filepath.Join(dir, "syncs", "publisher.cue"))
	write("publisher.cue", strings.Replace(string(pub), `staging: at:     "01:42"`, `staging: at:     "01:30"`, 1))
	chat, _ := os.ReadFile(filepath.Join(dir, "syncs", "sanitise", "chat.sql"))
	write("sanitise/chat.sql", string(chat)+"\nUPDATE answers SET sources_json = NULL;\n")
}

// envsync diff says, per environment, what a change does: jobs, hazards,
// data ages and the instances each alert selects.
func TestDiffSaysWhatAChangeDoesPerEnvironment(t *testing.T) {
	base, after := testEstate(t), testEstate(t)
	change(t, after)
	out, _, err := envsync(t, "diff", "--root", after, "--base-root", base)
	if err != nil {
		t.Fatalf("diff: %v\n%s", err, out)
	}
	section := func(env string) string {
		_, s, _ := strings.Cut(out, "### "+env+"\n")
		s, _, _ = strings.Cut(s, "\n### ")
		return s
	}
	for env, want := range map[string][]string{
		"production": {
			`- added: parking-postgres: backup; "50 23 * * *" (class daily)`,
			"- changed: chat-postgres: publish;",
			"- added: DatabaseBackupTakingLong tier=quicker selects parking-postgres",
		},
		"staging": {
			`- added: parking-postgres: restore, backup; "50 2 * * 1-5" (class weekdays); from production`,
			`- changed: publisher-postgres: restore, backup; "42 1 * * 1-5" (class weekdays); from production → restore, backup; "30 1 * * 1-5"`,
			"- added: parking-postgres: from production, 3h at best, 4h at worst",
			"- added: DatabaseRestoreTakingLong tier=quicker selects parking-postgres",
			"- added: DatabaseRestoreTakingLong tier=quicker undeclared=true leaves out parking-postgres",
		},
		"integration": {
			"**Hazards**",
			"- removed: publisher-postgres: unacknowledged: ordering hazard: restore at Mon 03:41",
			"- changed: publisher-postgres: from production,",
		},
	} {
		got := section(env)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no line %q in\n%s", env, w, got)
			}
		}
	}
	if strings.Contains(section("production"), "publisher-postgres") {
		t.Errorf("production's publisher job did not change, yet the summary names it:\n%s", section("production"))
	}

	same, _, err := envsync(t, "diff", "--root", base, "--base-root", base)
	if err != nil || !strings.HasPrefix(same, "No change") {
		t.Errorf("diff of an estate with itself: %v\n%s", err, same)
	}
}

// Without --base-root, the base is the estate at a git revision (HEAD).
func TestDiffComparesWithTheEstateAtAGitRevision(t *testing.T) {
	dir := testEstate(t)
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "the estate")
	change(t, dir)
	out, _, err := envsync(t, "diff", "--root", dir)
	if err != nil || !strings.Contains(out, "- added: parking-postgres: backup;") {
		t.Errorf("diff against HEAD: %v\n%s", err, out)
	}
	if _, _, err := envsync(t, "diff", "--root", dir, "--base", "no-such-revision"); err == nil || !strings.Contains(err.Error(), "no-such-revision") {
		t.Errorf("a revision that does not exist: %v", err)
	}
}
