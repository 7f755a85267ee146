package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envsync/envsync/declare/declaretest"
)

// envsync runs the command line in-process, every flag back at its
// default first: cobra keeps a flag's value from one Execute to the next,
// as no real process does.
func envsync(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	resetFlags(root)
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetArgs(args)
	err = root.Execute()
	return o.String(), e.String(), err
}

func TestVetListsEveryHazardMarksTheAcknowledgedOnesAndSucceeds(t *testing.T) {
	out, _, err := envsync(t, "vet", "--root", testEstate(t))
	if err != nil {
		t.Fatalf("vet failed: %v\n%s", err, out)
	}
	if n := strings.Count(out, "\nhazard: ") + strings.Count(out, "\nhazard (acknowledged: "); n != 2 && !strings.HasPrefix(out, "hazard") {
		t.Errorf("want 2 hazard lines:\n%s", out)
	}
	if n := strings.Count(out, "hazard (acknowledged: "); n != 1 {
		t.Errorf("%d acknowledged hazards, want content-store's:\n%s", n, out)
	}
	if !strings.Contains(out, `hazard: syncs/publisher.cue:14:3: sync "publisher-postgres" in integration: ordering hazard: restore at Mon 03:41`) {
		t.Errorf("publisher's integration hazard is missing:\n%s", out)
	}
	if !strings.HasSuffix(out, "0 error(s), 2 hazard(s) of which 1 acknowledged\n") {
		t.Errorf("summary:\n%s", out)
	}
}

func TestVetAgesListsHowOldEveryRestoresDataIsWhenItLands(t *testing.T) {
	out, _, err := envsync(t, "vet", "--ages", "--root", testEstate(t))
	if err != nil {
		t.Fatalf("vet --ages failed: %v\n%s", err, out)
	}
	_, table, ok := strings.Cut(out, "SYNC ")
	if !ok {
		t.Fatalf("no table of ages:\n%s", out)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) != 5 {
			t.Fatalf("row %q", line)
		}
		rows[f[0]+" "+f[1]] = f[2] + " " + f[3] + " " + f[4]
	}
	// chat-postgres: production publishes at 22:47 (dump, load, sanitise
	// and dump again: up to 2h30m); staging restores it at 01:47, taking up
	// to 1h: the data is at least 3h old when it lands, at most 2h30m more.
	if got := rows["chat-postgres staging"]; got != "production 3h 2h" {
		t.Errorf("chat-postgres in staging: %q\n%s", got, out)
	}
	if _, ok := rows["chat-postgres production"]; ok {
		t.Error("a backup-only job is listed")
	}
	if n := strings.Count(out, "\nnote: "); n != 1 {
		t.Errorf("%d notes, want transition's:\n%s", n, out)
	}
}

func breakEstate(t *testing.T, dir string) {
	t.Helper()
	bad := "package syncs\n\nsyncs: \"broken-postgres\": {engine: \"postgres\", database: \"broken_production\", environments: staging: at: \"01:00\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "syncs", "broken.cue"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVetExitsNonZeroOnAnErrorAndNamesTheSyncAndEnvironment(t *testing.T) {
	dir := testEstate(t)
	breakEstate(t, dir)
	out, _, err := envsync(t, "vet", "--root", dir)
	if err == nil {
		t.Fatalf("vet succeeded on a broken estate:\n%s", out)
	}
	want := `error: syncs/broken.cue:3:93: sync "broken-postgres" in staging: restores broken-postgres/broken_production from production, but no job in production backs that database up`
	if !strings.Contains(out, want) {
		t.Errorf("output:\n%s\nwant a line:\n%s", out, want)
	}
}

func TestGenWritesNothingWhenTheEstateHasAnError(t *testing.T) {
	dir := testEstate(t)
	sentinel := filepath.Join(dir, "out", "staging", "values.yaml")
	if err := os.MkdirAll(filepath.Dir(sentinel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sentinel, []byte("previous\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	breakEstate(t, dir)
	_, _, err := envsync(t, "gen", "--root", dir)
	if err == nil || !strings.Contains(err.Error(), "nothing written") {
		t.Fatalf("gen on a broken estate: %v", err)
	}
	data, err := os.ReadFile(sentinel)
	if err != nil || string(data) != "previous\n" {
		t.Fatalf("out/ changed: %q %v", data, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "out"))
	if len(entries) != 1 {
		t.Fatalf("out/ holds %d entries, want the one it had", len(entries))
	}
}

func TestGenWarnsOnStderrAboutUnacknowledgedHazardsOnly(t *testing.T) {
	_, stderr, _ := envsync(t, "gen", "--root", testEstate(t))
	if n, hazards := strings.Count(stderr, "warning: "), strings.Count(stderr, "ordering hazard"); n != 1 || hazards != 1 {
		t.Errorf("%d warnings, want publisher's unacknowledged hazard only:\n%s", n, stderr)
	}
	if strings.Contains(stderr, `"content-store-postgres" in integration: ordering hazard`) {
		t.Errorf("an acknowledged hazard was printed as a warning:\n%s", stderr)
	}
}

func TestGenSaysWhichFilesUnderOutItRemoved(t *testing.T) {
	dir := testEstate(t)
	if _, _, err := envsync(t, "gen", "--root", dir); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(dir, "out", "staging", "manifests", "by-hand.yaml")
	if err := os.WriteFile(stray, []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := envsync(t, "gen", "--root", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "removed out/staging/manifests/by-hand.yaml") {
		t.Errorf("gen removed a file added by hand without saying so:\n%s", stderr)
	}
	if strings.Count(stderr, "removed ") != 1 {
		t.Errorf("gen names files it wrote again as removed:\n%s", stderr)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("the stray file is still there: %v", err)
	}
}

func TestLocalNamesTheGeneratedEnvironmentsWhenOneIsMisspelt(t *testing.T) {
	out := t.TempDir()
	for _, env := range []string{"production", "staging"} {
		if err := os.MkdirAll(filepath.Join(out, env, "manifests"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := envsync(t, "local", "stagng", "--out", out)
	if err == nil || !strings.Contains(err.Error(), `no environment "stagng"`) || !strings.Contains(err.Error(), "production, staging") {
		t.Errorf("local stagng: %v", err)
	}
}

// --strict fails on an unacknowledged hazard, for CI; without it, vet
// lists hazards and succeeds. Each hazard says what start removes it.
func TestVetStrictFailsOnAnUnacknowledgedHazard(t *testing.T) {
	dir := testEstate(t)
	out, _, err := envsync(t, "vet", "--root", dir)
	if err != nil {
		t.Fatalf("vet: %v", err)
	}
	if !strings.Contains(out, "starting the restore at 03:42 or later, or that job earlier, removes it") {
		t.Errorf("the hazard proposes no start:\n%s", out)
	}
	_, _, err = envsync(t, "vet", "--strict", "--root", dir)
	if err == nil || !strings.Contains(err.Error(), "unacknowledged ordering hazard") {
		t.Errorf("vet --strict on an estate with unacknowledged hazards: %v", err)
	}
}

func resetFlags(c *cobra.Command) {
	reset := func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			sv.Replace(nil)
		} else {
			f.Value.Set(f.DefValue)
		}
		f.Changed = false
	}
	c.Flags().VisitAll(reset)
	c.PersistentFlags().VisitAll(reset)
	for _, sub := range c.Commands() {
		resetFlags(sub)
	}
}

// vet --json: the same findings, as a list a script reads.
func TestVetJSONListsTheFindings(t *testing.T) {
	out, _, err := envsync(t, "vet", "--json", "--root", testEstate(t))
	if err != nil {
		t.Fatal(err)
	}
	var fs []struct{ Kind, File, Message, Acknowledged string }
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("vet --json: %v\n%s", err, out)
	}
	kinds := map[string]int{}
	for _, f := range fs {
		kinds[f.Kind]++
		if f.File == "" && f.Kind == "hazard" {
			t.Errorf("a hazard without its file: %+v", f)
		}
	}
	if kinds["hazard"] != 2 || kinds["note"] != 1 {
		t.Errorf("kinds %v, want the estate's 2 hazards and its note", kinds)
	}
}

// testEstate is the estate of testdata/estate (see its README) in a
// temporary directory.
func testEstate(t *testing.T) string { return declaretest.CopyEstateFrom(t, "testdata/estate/syncs") }

// Adding a sync adds lines to a review of out/: outside the new sync's own
// files (its CronJob, ExternalSecret) and the schedule picture (redrawn
// below the new row; read rendered), no rule line changes and the
// dashboards change only the data-age queries' instance lists (one line
// per environment's panel target), not their layout.
func TestAddingASyncAddsLinesToOutAndChangesFewExistingOnes(t *testing.T) {
	dir := testEstate(t)
	if _, _, err := envsync(t, "gen", "--root", dir); err != nil {
		t.Fatal(err)
	}
	before := readTree(t, filepath.Join(dir, "out"))
	sync := "package syncs\n\nsyncs: \"parking-postgres\": {\n\tengine: \"postgres\"\n\tdatabase: \"parking_production\"\n\tpersonalData: false\n\tenvironments: {\n\t\tproduction: at: \"23:50\"\n\t\tstaging: at: \"02:50\"\n\t\tintegration: at: \"05:50\"\n\t}\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "syncs", "parking.cue"), []byte(sync), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := envsync(t, "gen", "--root", dir); err != nil {
		t.Fatal(err)
	}
	after := readTree(t, filepath.Join(dir, "out"))
	added := 0
	for name, now := range after {
		was, existed := before[name]
		if strings.Contains(name, "parking-postgres") {
			if existed {
				t.Errorf("%s existed before the sync was added", name)
			}
			continue
		}
		if strings.HasPrefix(name, "schedule.") {
			continue
		}
		removed, plus := lineChanges(was, now)
		added += plus
		limit := 0
		if strings.HasSuffix(name, "dashboard.json") || strings.HasSuffix(name, "configmap-dashboard.yaml") {
			limit = 3 // the data-age panel's query per environment of the flow
		}
		if len(removed) > limit {
			t.Errorf("%s: %d existing lines changed, want at most %d:\n%s", name, len(removed), limit, strings.Join(removed, "\n"))
		}
	}
	if added == 0 {
		t.Error("adding a sync added no line outside its own files: the rules and values do not name it")
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lineChanges is what a line diff shows: the lines of was that now lacks
// (changed or removed), and how many lines now adds.
func lineChanges(was, now string) (removed []string, added int) {
	count := map[string]int{}
	for _, l := range strings.Split(now, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(was, "\n") {
		if count[l] > 0 {
			count[l]--
			continue
		}
		removed = append(removed, l)
	}
	for _, n := range count {
		added += n
	}
	return removed, added
}
