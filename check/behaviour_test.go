package check_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/check"
	"github.com/envsync/envsync/declare"
)

func TestAReviewedClaimOfNoPersonalDataLetsARestoreIntoASanitisingEnvironmentRunWithoutAScript(t *testing.T) {
	base := `	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: at: "01:00"
		integration: at: "03:00"
	}`
	errs, _, _ := vet(t, app(base))
	if len(errs) != 1 || !strings.Contains(errs[0], "requires sanitising") {
		t.Fatalf("without the claim: want one sanitising error, got %q", errs)
	}
	errs, _, _ = vet(t, app("\tpersonalData: false\n"+base))
	if len(errs) != 0 {
		t.Fatalf("with personalData: false: want no error, got %q", errs)
	}
}

func TestADumpSanitisedUpstreamNeedsNoScriptDownstream(t *testing.T) {
	files := app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: {at: "01:00", sanitise: "syncs/sanitise/app.sql"}
		integration: at: "03:00"
	}`)
	files["syncs/sanitise/app.sql"] = "UPDATE users SET email = md5(id::text) || '@example.com';\n"
	errs, _, _ := vet(t, files)
	if len(errs) != 0 {
		t.Fatalf("want no error, got %q", errs)
	}
}

func TestRestoringAnEnvironmentsOwnBackupNeedsNoScript(t *testing.T) {
	errs, _, _ := vet(t, app(`	engine: "mysql"
	database: "app_production"
	environments: integration: {at: "03:00", operations: ["restore", "backup"], restoreFrom: "integration"}`))
	if len(errs) != 0 {
		t.Fatalf("want no error, got %q", errs)
	}
}

func TestAnExplicitOptInAllowsARestoreIntoProduction(t *testing.T) {
	errs, _, _ := vet(t, app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: {at: "23:00", restoreFrom: "staging", allowProductionRestore: true}
		staging: {at: "01:00", operations: ["backup"]}
	}`))
	if len(errs) != 0 {
		t.Fatalf("want no error, got %q", errs)
	}
}

// hazardEstate restores in staging at 01:00 weekdays from a production
// backup at the given time of day, in the given tier.
func hazardEstate(backupAt, tier, extra string) map[string]string {
	return app(`	engine: "postgres"
	database: "app_production"
	backupTier: "` + tier + `"
	environments: {
		production: at: "` + backupAt + `"
		staging: {at: "01:00"` + extra + `}
	}`)
}

func TestARestoreThatMayStartBeforeItsUpstreamBackupHasFinishedIsAHazardNotAnError(t *testing.T) {
	errs, hazards, _ := vet(t, hazardEstate("23:30", "slower", ""))
	if len(errs) != 0 {
		t.Fatalf("a hazard must not be an error: %q", errs)
	}
	want := `syncs/app.cue:9:3: sync "app" in staging: ordering hazard: restore at Mon 01:00 may start before the production backup it needs has finished (that job starts Sun 23:30 and may run until Mon 03:30: backup 4h), so it would restore an older dump; starting the restore at 03:30 or later, or that job earlier, removes it`
	if len(hazards) != 1 || hazards[0] != want {
		t.Fatalf("hazards:\n got %q\nwant [%q]", hazards, want)
	}
}

func TestARestoreThatStartsWhenTheUpstreamWorstCaseEndsIsNoHazard(t *testing.T) {
	_, hazards, _ := vet(t, hazardEstate("00:00", "quicker", ""))
	if len(hazards) != 0 {
		t.Fatalf("want no hazard, got %q", hazards)
	}
	_, hazards, _ = vet(t, hazardEstate("00:01", "quicker", ""))
	if len(hazards) != 1 {
		t.Fatalf("one minute later: want a hazard, got %q", hazards)
	}
}

func TestAnAcknowledgedHazardIsStillListedWithItsReason(t *testing.T) {
	root := writeEstate(t, hazardEstate("23:30", "slower", `, acknowledgeHazard: "yesterday's dump is fine"`))
	e, err := declare.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	fs := check.Estate(e)
	if len(fs.Hazards()) != 1 || fs.Hazards()[0].Acknowledged != "yesterday's dump is fine" {
		t.Fatalf("hazards: %+v", fs.Hazards())
	}
	if len(fs.Unacknowledged()) != 0 {
		t.Fatalf("unacknowledged: %+v", fs.Unacknowledged())
	}
}

func TestASanitisingRestoreCountsTheTransformLimitInTheUpstreamWorstCase(t *testing.T) {
	files := app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "22:00"
		staging: {at: "01:00", sanitise: "syncs/sanitise/app.sql"}
		integration: at: "03:30"
	}`)
	files["syncs/sanitise/app.sql"] = "SELECT 1;\n"
	_, hazards, _ := vet(t, files)
	// staging: 01:00 + restore 1h + sanitise 45m + backup 1h = 03:45 > 03:30.
	if len(hazards) != 1 || !strings.Contains(hazards[0], "may run until Mon 03:45: restore 1h + sanitise 45m + backup 1h") {
		t.Fatalf("hazards: %q", hazards)
	}
}

// The example estate passes vet --strict (make vet): every hazard it has
// is acknowledged, with its reason.
func TestTheExampleEstateHasNoUnacknowledgedHazard(t *testing.T) {
	e, err := declare.Load(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	fs := check.Estate(e)
	if err := fs.Err(); err != nil {
		t.Fatalf("the example estate must have no error: %v", err)
	}
	if u := fs.Unacknowledged(); len(u) != 0 {
		t.Errorf("unacknowledged hazards in the example estate:\n%v", u)
	}
	if len(fs.Hazards()) == 0 {
		t.Error("no acknowledged hazard in the example estate: the picture and the README's example of one are gone")
	}
}

// The CUE schema already refuses these; the model can be built by other
// means (tests, other front ends), so check refuses them too.
func TestAModelBuiltOutsideCUEIsCheckedForWhatTheSchemaWouldRefuse(t *testing.T) {
	e, err := declare.Load(writeEstate(t, app(`	engine: "postgres"
	database: "app_production"
	environments: production: at: "23:00"`)))
	if err != nil {
		t.Fatal(err)
	}
	e.Syncs = append(e.Syncs, e.Syncs[0])
	e.Syncs[1].Jobs = slices.Clone(e.Syncs[0].Jobs)
	e.Syncs[1].Engine = "oracle"
	e.Syncs[1].Jobs[0].Pos.Line = 42
	var got []string
	for _, f := range check.Estate(e).Errors() {
		got = append(got, f.String())
	}
	want := []string{
		`syncs/app.cue:3:8: sync "app": unknown engine "oracle" (want postgres, mysql, mongo or opensearch)`,
		`syncs/app.cue:42:16: sync "app" in production: duplicate job name: also declared at syncs/app.cue:6`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("errors:\n got %q\nwant %q", got, want)
	}
}

func TestARestoreJustBeforeItsUpstreamBackupGetsANoteWithTheMoveThatFixesIt(t *testing.T) {
	files := app(`	engine: "postgres"
	database: "app_production"
	personalData: false
	environments: {
		production: at: "03:00"
		staging: at: "01:30"
	}`)
	errs, _, e := vet(t, files)
	notes := check.Estate(e).Notes()
	if len(notes) != 1 || len(errs) != 0 {
		t.Fatalf("notes %q, errors %q: want one note and no error", notes, errs)
	}
	msg := notes[0].String()
	for _, want := range []string{`sync "app" in staging`, "restore at 01:30 always reads the production dump of the day before (22h30m old", "starts 03:00, done by", "starting the restore at"} {
		if !strings.Contains(msg, want) {
			t.Errorf("note %q does not say %q", msg, want)
		}
	}
	// Moved after the backup's worst-case end, the note goes.
	files = app(`	engine: "postgres"
	database: "app_production"
	personalData: false
	environments: {
		production: at: "23:00"
		staging: at: "01:30"
	}`)
	_, _, e = vet(t, files)
	if notes := check.Estate(e).Notes(); len(notes) != 0 {
		t.Errorf("a restore two and a half hours after its upstream backup got %q", notes)
	}
}

func TestAPausedEnvironmentSuspendsEveryJobThereAndOnlyThere(t *testing.T) {
	files := app(`	engine: "postgres"
	database: "app_production"
	personalData: false
	environments: {
		production: at: "23:00"
		staging: at: "01:00"
	}`)
	files["syncs/pause.cue"] = "package syncs\n\nenvironments: staging: suspend: true\n"
	errs, _, e := vet(t, files)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	for _, s := range e.Syncs {
		for _, j := range s.Jobs {
			if j.Suspend != (j.Environment == "staging") {
				t.Errorf("%s in %s: suspended %v", s.Name, j.Environment, j.Suspend)
			}
		}
	}
}
