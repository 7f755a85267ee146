package runner_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/mongo"
	"github.com/envsync/envsync/runner/gate"
)

// The personal-data gate on Mongo (FerretDB standing in for DocumentDB),
// with a real dump of the old scripts: classified from a draft of the
// data, a script that rewrites every personal field goes live; one that
// forgets a field, and data with a field the classification does not
// name, fail before the swap with live untouched.
func TestTheMongoGateProvesTheSanitisingOrRefuses(t *testing.T) {
	r := newMongoRig(t)
	const db = "publisher_production"
	r.put(t, mongoInstance+"/2026-11-30T001300Z-"+db+".gz", fixture(t, "2026-11-30T001300Z-"+db+".gz"))
	r.mustRun(t, r.dst, "restore", db)

	// A draft of the live copy, as envsync classify makes it.
	eng, err := mongo.New(engine.Config{Host: r.dst.Host, Port: r.dst.Port, User: r.dst.User, Password: r.dst.Password, Database: db, AuthMechanism: "PLAIN"})
	if err != nil {
		t.Fatal(err)
	}
	view, closeView, err := eng.(engine.Inspector).Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tables, err := gate.Draft(t.Context(), view, 1000, nil)
	closeView()
	if err != nil {
		t.Fatal(err)
	}
	var personal []string // "collection field"
	for _, coll := range slices.Sorted(maps.Keys(tables)) {
		for _, f := range slices.Sorted(maps.Keys(tables[coll])) {
			if tables[coll][f] == contract.Personal {
				personal = append(personal, coll+" "+f)
			}
		}
	}
	if len(personal) < 2 {
		t.Fatalf("the draft finds %d personal fields: the test proves little\n%v", len(personal), tables)
	}
	script := func(skip string) string {
		var b strings.Builder
		for _, p := range personal {
			coll, f, _ := strings.Cut(p, " ")
			if p != skip {
				// Each value its own, for fields under a unique index.
				fmt.Fprintf(&b, "db.getCollection(%[1]q).find({%[2]q: {$exists: true}}).forEach((d) => { db.getCollection(%[1]q).updateOne({_id: d._id}, {$set: {%[2]q: 'redacted-' + String(d._id)}}); });\n", coll, f)
			}
		}
		return writeScript(t, b.String())
	}
	classification := func(drop string) string {
		c := contract.Classification{Sync: "shared-documentdb", Declared: "syncs/shared-documentdb.cue:3", Tables: map[string]map[string]string{}}
		for coll, fs := range tables {
			c.Tables[coll] = maps.Clone(fs)
		}
		if coll, f, ok := strings.Cut(drop, " "); ok {
			delete(c.Tables[coll], f)
		}
		b, _ := json.Marshal(c)
		p := filepath.Join(t.TempDir(), "classification.json")
		os.WriteFile(p, b, 0o644)
		return p
	}
	before := mongoSnapshot(t, r.dst, db)
	for name, c := range map[string]struct{ script, classification, want string }{
		"a personal field the script forgets": {script(personal[0]), classification(""), strings.Replace(personal[0], " ", ".", 1) + " is personal but the script left it unchanged"},
		"a field the classification lacks":    {script(""), classification(personal[1]), "not classified: " + strings.Replace(personal[1], " ", ".", 1)},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := r.run(t, r.dst, "restore", db, "SANITISE_SCRIPT="+c.script, "CLASSIFICATION="+c.classification)
			if err == nil || !strings.Contains(out, c.want) {
				t.Fatalf("restore: %v, want an error saying %q\n%s", err, c.want, out)
			}
			if after := mongoSnapshot(t, r.dst, db); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Error("live changed")
			}
			assertNoMongoWorking(t, r.dst, db)
		})
	}
	out := r.mustRun(t, r.dst, "restore", db, "SANITISE_SCRIPT="+script(""), "CLASSIFICATION="+classification(""))
	if !strings.Contains(out, "personal-data gate passed") {
		t.Errorf("the gate did not run:\n%s", out)
	}
}
