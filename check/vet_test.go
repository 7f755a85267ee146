package check_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/check"
	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/model"
)

// repoRoot is the repository root, whose cue.mod and schema the tests use.
var repoRoot = func() string {
	r, err := declare.FindRoot(".")
	if err != nil {
		panic(err)
	}
	return r
}()

// writeEstate builds a repository in a temporary directory: the real
// cue.mod and schema, testdata/estate.cue, and the given files (paths
// relative to the root).
func writeEstate(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	copyFile := func(from, to string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(filepath.Join(repoRoot, "cue.mod", "module.cue"), filepath.Join(dir, "cue.mod", "module.cue"))
	schemas, _ := filepath.Glob(filepath.Join(repoRoot, "schema", "*.cue"))
	for _, s := range schemas {
		copyFile(s, filepath.Join(dir, "schema", filepath.Base(s)))
	}
	copyFile("testdata/estate.cue", filepath.Join(dir, "syncs", "estate.cue"))
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadEstate writes files into an estate and loads it, which must succeed.
func loadEstate(t *testing.T, files map[string]string) *model.Estate {
	t.Helper()
	e, err := declare.Load(writeEstate(t, files))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// vet loads and checks an estate and returns every error message (CUE and
// semantic) and every hazard, as envsync vet would show them.
func vet(t *testing.T, files map[string]string) (errs, hazards []string, e *model.Estate) {
	t.Helper()
	root := writeEstate(t, files)
	e, err := declare.Load(root)
	if err != nil {
		var des declare.Errors
		if !errors.As(err, &des) {
			t.Fatalf("load: %v", err)
		}
		for _, de := range des {
			errs = append(errs, de.Error())
		}
		return errs, nil, nil
	}
	fs := check.Estate(e)
	for _, f := range fs.Errors() {
		errs = append(errs, f.String())
	}
	for _, f := range fs.Hazards() {
		s := f.String()
		if f.Acknowledged != "" {
			s = "acknowledged: " + s
		}
		hazards = append(hazards, s)
	}
	return errs, hazards, e
}

func TestTLSIsResolvedFieldByFieldFromTheJobTheSyncAndTheEnvironment(t *testing.T) {
	errs, _, e := vet(t, map[string]string{"syncs/app.cue": `package syncs

syncs: app: {
	engine: "postgres"
	database: "app_production"
	tls: ca: {secret: "db-ca"}
	environments: {
		production: at: "23:00"
		staging: {at: "01:00", tls: mode: "verify-full"}
	}
}
`})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	got := map[string]model.TLS{}
	for _, j := range e.Syncs[0].Jobs {
		got[j.Environment] = j.TLS
	}
	ca := &model.CA{Secret: "db-ca", Key: "ca.pem"}
	for env, want := range map[string]model.TLS{
		"production": {Mode: "prefer", CA: ca},      // the environment's default mode, the sync's CA
		"staging":    {Mode: "verify-full", CA: ca}, // the job's mode, the sync's CA
	} {
		if !reflect.DeepEqual(got[env], want) {
			t.Errorf("%s: TLS %+v (CA %+v), want %+v (CA %+v)", env, got[env], got[env].CA, want, want.CA)
		}
	}
}

func TestMalformedDeclarations(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error messages, one error each
	}{
		{
			name: "a misspelt field name is an error at its file, line and field",
			files: map[string]string{"syncs/app.cue": `package syncs

syncs: app: {
	engine:  "postgres"
	databse: "app_production"
	environments: production: at: "23:00"
}
`},
			want: []string{`syncs/app.cue:5:2: syncs.app.databse: field not allowed`},
		},
		{
			name:  "a misspelt field of a sync whose name needs quotes names the field as CUE writes it",
			files: map[string]string{"syncs/chat.cue": "package syncs\n\nsyncs: \"chat-postgres\": {\n\tengine: \"postgres\"\n\tdatabse: \"x\"\n\tenvironments: production: at: \"23:00\"\n}\n"},
			want:  []string{`syncs/chat.cue:5:2: syncs."chat-postgres".databse: field not allowed`},
		},
		{
			name: "three mistakes in a sync of its own file are each reported there, a misspelt field among them",
			files: map[string]string{"syncs/parking.cue": "package syncs\n\nsyncs: \"parking-postgres\": {\n\tengine: \"postgresql\"\n\tdatabse: \"parking_production\"\n\tenvironments: production: at: \"1:20\"\n}\n"},
			want: []string{
				`syncs/parking.cue:4:10: syncs."parking-postgres".engine: invalid value "postgresql" (want one of "mongo", "mysql", "opensearch", "postgres")`,
				`syncs/parking.cue:5:2: syncs."parking-postgres".databse: field not allowed (did you mean database?)`,
				`syncs/parking.cue:6:32: syncs."parking-postgres".environments.production.at: invalid value "1:20" (want a time of day HH:MM, from 00:00 to 23:59)`,
			},
		},
		{
			name:  "an unquoted field starting with an underscore in a classification, which CUE hides",
			files: map[string]string{"syncs/app.cue": "package syncs\n\nsyncs: app: {\n\tengine: \"mongo\"\n\tdatabase: \"app_production\"\n\tenvironments: production: at: \"23:00\"\n\tclassification: users: {_id: \"public\", email: \"personal\"}\n}\n"},
			want:  []string{`syncs/app.cue:7:26: syncs.app.classification: _id is hidden in CUE, so the classification would not name it: quote it ("_id")`},
		},
		{
			name:  "a misspelt top-level field is an error too",
			files: map[string]string{"syncs/app.cue": "package syncs\n\nsync: app: engine: \"postgres\"\n"},
			want:  []string{`syncs/app.cue:3:1: sync: field not allowed`},
		},
		{
			name: "an unknown engine is refused with the engines allowed",
			files: app(`	engine: "oracle"
	database: "app_production"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:4:10: syncs.app.engine: invalid value "oracle" (want one of "mongo", "mysql", "opensearch", "postgres")`},
		},
		{
			name: "a cron line with six fields is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: schedule: "0 0 23 * * *"`),
			want: []string{`syncs/app.cue:6:16: sync "app" in production: invalid cron schedule "0 0 23 * * *": expected exactly 5 fields, found 6`},
		},
		{
			name: "a cron line whose days differ from its class is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: schedule: "0 23 * * 1-5"`),
			want: []string{`syncs/app.cue:6:16: sync "app" in production: schedule "0 23 * * 1-5" runs on days [1 2 3 4 5] but its class daily runs on days [0 1 2 3 4 5 6]: set class to one that matches`},
		},
		{
			name: "a time of day past midnight is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: at: "24:10"`),
			want: []string{`syncs/app.cue:6:32: syncs.app.environments.production.at: invalid value "24:10" (want a time of day HH:MM, from 00:00 to 23:59)`},
		},
		{
			name: "a sync declared in two files with different databases conflicts",
			files: map[string]string{
				"syncs/app.cue":   "package syncs\n\nsyncs: app: {engine: \"postgres\", database: \"app_production\", environments: production: at: \"23:00\"}\n",
				"syncs/other.cue": "package syncs\n\nsyncs: app: {engine: \"postgres\", database: \"other_production\", environments: production: at: \"23:30\"}\n",
			},
			want: []string{`syncs/app.cue:3:44: syncs.app.database: conflicting values "other_production" and "app_production"`, `syncs/app.cue:3:92: syncs.app.environments.production.at: conflicting values "23:30" and "23:00"`},
		},
		{
			name:  "a name longer than a CronJob may have is refused",
			files: map[string]string{"syncs/app.cue": "package syncs\n\nsyncs: \"a-very-long-application-name-for-a-database-sync-job-x\": {engine: \"postgres\", database: \"app_production\", environments: production: at: \"23:00\"}\n"},
			want:  []string{`syncs/app.cue:3:8: sync "a-very-long-application-name-for-a-database-sync-job-x": name is 54 characters; Kubernetes accepts at most 52 for a CronJob`},
		},
		{
			name:  "a name with capitals is not a Kubernetes name",
			files: map[string]string{"syncs/app.cue": "package syncs\n\nsyncs: App: {engine: \"postgres\", database: \"app_production\", environments: production: at: \"23:00\"}\n"},
			want:  []string{`syncs/app.cue:3:8: syncs.App.name: invalid value "App" (want a name of lower-case letters, digits and '-', starting and ending with a letter or a digit)`},
		},
		{
			name: "an unknown class is refused with the classes declared",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", class: "fortnightly"}`),
			want: []string{`syncs/app.cue:6:42: syncs.app.environments.production.class: sync "app" in production: unknown class "fortnightly" (declared: daily, weekdays, weekly-monday)`},
		},
		{
			name: "an unknown tier is refused with the tiers declared",
			files: app(`	engine: "postgres"
	database: "app_production"
	tier: "slowish"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:6:2: syncs.app.tier: unknown tier "slowish" (declared: quicker, slower)`},
		},
		{
			name: "an unknown environment is refused with the environments declared",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: prod: at: "23:00"`),
			want: []string{`syncs/app.cue:6:16: syncs.app.environments.prod: sync "app": unknown environment "prod" (declared: production, staging, integration)`},
		},
		{
			name: "a restore whose upstream environment never backs the database up is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: staging: at: "01:00"`),
			want: []string{`syncs/app.cue:6:16: sync "app" in staging: restores app/app_production from production, but no job in production backs that database up`},
		},
		{
			name: "a sanitise script that does not exist is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: {at: "01:00", sanitise: "syncs/sanitise/app.sql"}
	}`),
			want: []string{`syncs/app.cue:8:3: sync "app" in staging: sanitise script "syncs/sanitise/app.sql" does not exist`},
		},
		{
			name: "a restore into production needs an explicit opt-in",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: {at: "23:00", restoreFrom: "staging", operations: ["restore", "backup"]}
		staging: at: "01:00"
	}`),
			want: []string{`syncs/app.cue:7:3: sync "app" in production: restores into production, whose name says production (contract.IsProduction, as the runner reads it): set allowProductionRestore: true`},
		},
		{
			name: "a database name with a slash is refused: the object layout cannot hold it",
			files: app(`	engine: "postgres"
	database: "a/b"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:3:8: sync "app": database "a/b": a '/' cannot be held by the object layout`},
		},
		{
			name: "two databases of one sync whose container names would be the same are refused",
			files: app(`	engine: "mongo"
	databases: ["a_b", "a-b"]
	environments: production: at: "23:00"`),
			want: []string{`sync "app": databases "a_b" and "a-b" would both be "a-b" in the names of the job's containers`},
		},
		{
			name: "a classification of a sync over several databases is refused: the gate checks one",
			files: app(`	engine: "mongo"
	databases: ["app_production", "other_production"]
	classification: users: email: "personal"
	environments: production: at: "23:00"`),
			want: []string{`sync "app": classification: the personal-data gate checks one database; this sync has 2`},
		},
		{
			name: "a classification that is neither personal nor public is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	classification: users: email: "secret"
	environments: production: at: "23:00"`),
			want: []string{`syncs.app.classification.users.email`},
		},
		{
			name: "a duration that is not one says what one looks like",
			files: app(`	engine: "postgres"
	database: "app_production"
	maxRunTime: "ten minutes"
	environments: production: at: "23:00"`),
			want: []string{`syncs.app.maxRunTime: invalid value "ten minutes" (want a duration such as 45m, 1h30m or 90s)`},
		},
		{
			name: "a suspension's date that is not one says what one looks like",
			files: app(`	engine: "postgres"
	database: "app_production"
	suspend: {until: "next week", reason: "migration"}
	environments: production: at: "23:00"`),
			want: []string{`syncs.app.suspend.until: invalid value "next week" (want a date YYYY-MM-DD)`},
		},
		{
			name: "a transform in production needs the opt-in too, as the runner refuses it without",
			files: map[string]string{"syncs/app.cue": "package syncs\n\nsyncs: app: {\n" + `	engine: "postgres"
	database: "app_production"
	environments: {
		production: {at: "23:00", operations: ["transform", "backup"], sanitise: "syncs/sanitise/app.sql"}
	}` + "\n}\n", "syncs/sanitise/app.sql": "UPDATE t SET a = 1;\n"},
			want: []string{`syncs/app.cue:7:3: sync "app" in production: transforms in production, whose name says production`},
		},
		{
			name: "a script under a directory whose name starts with two dots is inside the repository",
			files: map[string]string{"syncs/app.cue": "package syncs\n\nsyncs: app: {\n" + `	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: {at: "01:00", sanitise: "..x/y.sql"}
	}` + "\n}\n", "..x/y.sql": "UPDATE t SET a = 1;\n"},
		},
		{
			name: "a script path that climbs out of the repository is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: {at: "01:00", sanitise: "syncs/../../etc/passwd"}
	}`),
			want: []string{`syncs/app.cue:8:3: sync "app" in staging: sanitise script "syncs/../../etc/passwd" must be a path inside the repository`},
		},
		{
			name: "a restore into an environment that requires sanitising needs a script",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: at: "01:00"
		integration: at: "03:00"
	}`),
			want: []string{`syncs/app.cue:9:3: sync "app" in integration: restores app_production into integration, which requires sanitising, but no sanitise script covers it here or upstream in staging`},
		},
		{
			name: "a value of the wrong type is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	personalData: "yes"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:6:16: syncs.app.personalData: invalid value "yes" (want a bool, without quotes)`},
		},
		{
			name: "an ensure value outside present, disabled and absent is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", ensure: "gone"}`),
			want: []string{`syncs/app.cue:6:50: syncs.app.environments.production.ensure: invalid value "gone" (want one of "absent", "disabled", "present")`},
		},
		{
			name: "a job with both a time of day and a cron line is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", schedule: "0 23 * * *"}`),
			want: []string{`syncs/app.cue:6:16: syncs.app.environments.production: sync "app" in production: set at or schedule, not both`},
		},
		{
			name: "a sync without a database is refused",
			files: app(`	engine: "postgres"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:3:8: syncs.app: sync "app": no database: set database (or databases, in order)`},
		},
		{
			name: "a sync without an engine is refused",
			files: app(`	database: "app_production"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:3:8: syncs.app.engine: incomplete value "postgres" | "mysql" | "mongo"`},
		},
		{
			name: "operations out of order are refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: {at: "01:00", operations: ["backup", "restore"]}
	}`),
			want: []string{`syncs/app.cue:8:26: syncs.app.environments.staging.operations: sync "app" in staging: operations [backup restore] must each appear once, in the order restore, transform, backup`},
		},
		{
			name: "a sanitise map naming a database the sync does not have is refused",
			files: map[string]string{
				"syncs/sanitise/app.js": "db.users.deleteMany({})\n",
				"syncs/app.cue": `package syncs

syncs: app: {
	engine: "mongo"
	databases: ["a_production", "b_production"]
	environments: {
		production: at: "23:00"
		staging: {at: "01:00", sanitise: c_production: "syncs/sanitise/app.js"}
	}
}
`},
			want: []string{`syncs/app.cue:8:36: syncs.app.environments.staging.sanitise.c_production: sync "app" in staging: sanitise names database "c_production", which the sync does not have (a_production, b_production)`},
		},
		{
			name: "two running jobs restoring the same database are refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: at: "01:00"
	}
}

syncs: "app-again": {
	instance: "app"
	engine: "postgres"
	database: "app_production"
	environments: staging: at: "02:00"`),
			want: []string{
				`syncs/app.cue:16:16: sync "app-again" in staging: backup of app/app_production is also declared by sync "app" at syncs/app.cue:8`,
				`syncs/app.cue:16:16: sync "app-again" in staging: restores app/app_production, which sync "app" restores too`,
			},
		},
		{
			name: "an acknowledgement of a hazard the job does not have is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", acknowledgeHazard: "old news"}`),
			want: []string{`syncs/app.cue:6:16: sync "app" in production: acknowledgeHazard is set but the job has no ordering hazard: remove it`},
		},
		{
			name: "restoreFrom on a job that does not restore is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", operations: ["backup"], restoreFrom: "staging"}`),
			want: []string{`syncs/app.cue:6:66: syncs.app.environments.production.restoreFrom: sync "app" in production: restoreFrom is set but the job does not restore (operations [backup])`},
		},
		{
			name: "a port written as a string says an int is wanted, at the field",
			files: app(`	engine: "postgres"
	database: "app_production"
	port: "5432"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:6:8: syncs.app.port: invalid value "5432" (want an int, without quotes)`},
		},
		{
			name: "an unknown operation names the operations allowed, at the field",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", operations: ["restor"]}`),
			want: []string{`syncs.app.environments.production.operations."0": invalid value "restor" (want one of "backup", "publish", "restore", "transform")`},
		},
		{
			name: "an empty operations list says at least one is wanted",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", operations: []}`),
			want: []string{`syncs.app.environments.production.operations: empty list (want at least one element)`},
		},
		{
			name: "an instance too long for a label value is refused at the field",
			files: app(`	engine: "postgres"
	database: "app_production"
	instance: "` + strings.Repeat("a", 70) + `"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:6:2: syncs.app.instance: instance "` + strings.Repeat("a", 70) + `" is not usable as a Kubernetes label value: must be no more than 63 bytes`},
		},
		{
			name: "a sync declared in two files names both",
			files: map[string]string{
				"syncs/app.cue":   "package syncs\n\nsyncs: app: {engine: \"postgres\", database: \"d\", environments: production: at: \"23:00\"}\n",
				"syncs/again.cue": "package syncs\n\nsyncs: app: {engine: \"postgres\", database: \"e\", environments: production: at: \"23:00\"}\n",
			},
			want: []string{`syncs.app.database: conflicting values "d" and "e" (also declared at syncs/`},
		},
		{
			name: "a resource quantity Kubernetes would refuse is refused with the sync's place",
			files: app(`	engine: "postgres"
	database: "app_production"
	resources: limits: memory: "1 gig"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:3:8: sync "app": resources.limits.memory "1 gig" is not a Kubernetes quantity`},
		},
		{
			name:  "a file in a subfolder of syncs is an error naming it, not a sync silently dropped",
			files: map[string]string{"syncs/apps/app.cue": "package syncs\n\nsyncs: app: {engine: \"postgres\", database: \"app_production\", environments: production: at: \"23:00\"}\n"},
			want:  []string{`syncs/apps/app.cue:1:1: not loaded: envsync reads the .cue files of syncs/ itself, not of its subfolders; move it to syncs/`},
		},
		{
			name:  "a file of another package in syncs is an error naming it and its package",
			files: map[string]string{"syncs/app.cue": "package apps\n\nsyncs: app: {engine: \"postgres\", database: \"app_production\", environments: production: at: \"23:00\"}\n"},
			want:  []string{`found packages "apps" (app.cue) and "syncs" (estate.cue)`},
		},
		{
			name:  "a file without a package clause in syncs is an error naming it",
			files: map[string]string{"syncs/app.cue": "syncs: app: {engine: \"postgres\", database: \"app_production\", environments: production: at: \"23:00\"}\n"},
			want:  []string{`syncs/app.cue:1:1: not loaded: it has no package clause; every file of syncs/ must start with "package syncs"`},
		},
		{
			name: "two syncs backing up the same instance and database in one environment are refused, naming both",
			files: map[string]string{
				"syncs/app.cue":   "package syncs\n\nsyncs: app: {engine: \"postgres\", database: \"app_production\", environments: production: at: \"23:00\"}\n",
				"syncs/again.cue": "package syncs\n\nsyncs: again: {instance: \"app\", engine: \"postgres\", database: \"app_production\", environments: production: at: \"23:30\"}\n",
			},
			want: []string{`syncs/app.cue:3:76: sync "app" in production: backup of app/app_production is also declared by sync "again" at syncs/again.cue:3: they would share its dumps, pointer and metric series`},
		},
		{
			name: "a TLS mode that verifies certificates without a CA bundle is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	tls: mode: "verify-full"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:7:16: sync "app" in production: tls mode verify-full checks the server's certificate against a CA bundle, but none is declared: set tls.ca (a configMap or secret of namespace "apps", and its key)`},
		},
		{
			name: "a CA bundle in both a ConfigMap and a Secret is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", tls: ca: {configMap: "a", secret: "b"}}`),
			want: []string{`syncs.app.environments.production.tls.ca: ca: set exactly one of configMap and secret`},
		},
		{
			name: "a TLS mode libpq does not know is refused",
			files: app(`	engine: "postgres"
	database: "app_production"
	tls: mode: "on"
	environments: production: at: "23:00"`),
			want: []string{`syncs/app.cue:6:13: syncs.app.tls.mode: invalid value "on" (want one of "disable", "prefer", "require", "verify-ca", "verify-full")`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs, _, _ := vet(t, tc.files)
			t.Logf("errors:\n%s", strings.Join(errs, "\n"))
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(errs), len(tc.want), strings.Join(errs, "\n"))
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i], w) {
					t.Errorf("error %d:\n got %s\nwant it to contain %s", i, errs[i], w)
				}
			}
		})
	}
}

// app wraps the fields of one sync called "app" into syncs/app.cue; the
// fields start on line 4.
func app(fields string) map[string]string {
	return map[string]string{"syncs/app.cue": "package syncs\n\nsyncs: app: {\n" + fields + "\n}\n"}
}

func TestMonitoringPlacementIsTheEstatesOverriddenByTheEnvironments(t *testing.T) {
	errs, _, e := vet(t, map[string]string{"syncs/monitoring.cue": `package syncs

import "github.com/envsync/envsync/schema"

monitoring: schema.#Monitoring & {
	ruleLabels: release: "kube-prometheus-stack"
	dashboardNamespace: "monitoring"
}
environments: staging: monitoring: {ruleNamespace: "prometheus", ruleLabels: tier: "staging"}
`})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	for _, env := range e.Environments {
		m := env.Monitoring
		switch env.Name {
		case "staging":
			if m.RuleNamespace != "prometheus" || m.DashboardNamespace != "monitoring" || m.RuleLabels["release"] != "kube-prometheus-stack" || m.RuleLabels["tier"] != "staging" {
				t.Errorf("staging: %+v", m)
			}
		default:
			if m.RuleNamespace != "" || m.DashboardNamespace != "monitoring" || len(m.RuleLabels) != 1 {
				t.Errorf("%s: %+v", env.Name, m)
			}
		}
	}
}

func TestASyncThatRunsNowhereIsAWarning(t *testing.T) {
	errs, _, e := vet(t, map[string]string{"syncs/app.cue": "package syncs\n\nsyncs: app: {engine: \"postgres\", database: \"app_production\", environments: {}}\n"})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	ws := check.Estate(e).Warnings()
	if len(ws) != 1 || !strings.Contains(ws[0].String(), `syncs/app.cue:3:8: sync "app": runs in no environment`) {
		t.Errorf("warnings: %v", ws)
	}
}

func TestWithoutAnUndeclaredTierAndClassUndeclaredSeriesAreAWarningAndUnknownOnesAnError(t *testing.T) {
	// The test estate without its alerting.undeclared, plus files.
	load := func(files map[string]string) (*model.Estate, error) {
		root := writeEstate(t, files)
		est := filepath.Join(root, "syncs", "estate.cue")
		data, err := os.ReadFile(est)
		if err != nil {
			t.Fatal(err)
		}
		stripped := strings.Replace(string(data), `undeclared: {tier: "quicker", class: "daily"}`, "", 1)
		if stripped == string(data) {
			t.Fatal("the test estate has no alerting.undeclared to remove")
		}
		os.WriteFile(est, []byte(stripped), 0o644)
		return declare.Load(root)
	}
	e, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := check.Estate(e).Warnings()
	if len(ws) != 1 || !strings.Contains(ws[0].Msg, "alerting.undeclared is not set") {
		t.Errorf("warnings %q, want the one about alerting.undeclared", ws)
	}
	_, err = load(map[string]string{"syncs/undeclared.cue": "package syncs\n\nalerting: undeclared: {tier: \"quickest\", class: \"daily\"}\n"})
	if err == nil || !strings.Contains(err.Error(), "syncs/undeclared.cue:3:") || !strings.Contains(err.Error(), `unknown tier "quickest" (declared: quicker, slower)`) {
		t.Errorf("error %v, want one naming the file, line and tier", err)
	}
}

func TestAnEnvironmentsNamePrefixDNSAndExternalSecretsAreDeclaredAndTheNameLimitCountsThePrefix(t *testing.T) {
	app := `package syncs

environments: staging: {
	jobNamePrefix: "db-backup-"
	dnsConfig: {searches: ["db.internal"], options: {ndots: "2"}}
	externalSecrets: store: name: "vault"
}
syncs: "content-data-admin-postgres-replica-for-reports": {
	engine:   "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: at:    "01:00"
	}
}
`
	errs, _, _ := vet(t, map[string]string{"syncs/app.cue": app})
	want := `syncs/app.cue:13:3: sync "content-data-admin-postgres-replica-for-reports" in staging: CronJob name "db-backup-content-data-admin-postgres-replica-for-reports" (jobNamePrefix "db-backup-" and the sync's name) is 57 characters; Kubernetes accepts at most 52`
	if len(errs) != 1 || errs[0] != want {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), want)
	}

	errs, _, e := vet(t, map[string]string{"syncs/app.cue": strings.ReplaceAll(app, "content-data-admin-postgres-replica-for-reports", "app-postgres")})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	staging, _ := e.Environment("staging")
	if staging.CronJobName("app-postgres") != "db-backup-app-postgres" ||
		!reflect.DeepEqual(staging.DNS, &model.DNS{Searches: []string{"db.internal"}, Options: map[string]string{"ndots": "2"}}) ||
		!reflect.DeepEqual(staging.ExternalSecrets, &model.ExternalSecrets{StoreName: "vault", StoreKind: "ClusterSecretStore",
			RemoteKey: "envsync/{instance}", UsernameProperty: "username", PasswordProperty: "password", RefreshInterval: time.Hour}) {
		t.Errorf("staging: prefix %q, DNS %+v, external secrets %+v", staging.JobNamePrefix, staging.DNS, staging.ExternalSecrets)
	}
	if production, _ := e.Environment("production"); production.JobNamePrefix != "" || production.DNS != nil || production.ExternalSecrets != nil {
		t.Errorf("production declares none of them: %+v", production)
	}
}

func TestASearchSyncNeedsItsClusterAndRepositoryAndCannotBeSanitised(t *testing.T) {
	errs, _, _ := vet(t, map[string]string{"syncs/search.cue": `package syncs

syncs: "search-opensearch": {
	engine:   "opensearch"
	database: "*"
	environments: {
		production: {at: "23:00", endpoint: "https://search.production", repository: "prod"}
		staging: {at: "01:00", endpoint: "https://search.staging"}
		integration: {at: "03:00", endpoint: "https://search.integration", repository: "integ", sanitise: "syncs/sanitise/x.sql"}
	}
}
syncs: "app-postgres": {
	engine:   "postgres"
	database: "app_production"
	environments: production: {at: "23:30", repository: "prod"}
}
`})
	want := []string{
		`syncs/search.cue:8:3: sync "search-opensearch" in staging: a search job needs its cluster's endpoint and its snapshot repository`,
		`syncs/search.cue:9:3: sync "search-opensearch" in integration: search indexes have no transform or sanitise script: a search sync copies snapshots only`,
		`syncs/search.cue:9:3: sync "search-opensearch" in integration: restores from staging, where the sync names no snapshot repository to read`,
		`syncs/search.cue:9:3: sync "search-opensearch" in integration: restores search indexes into integration, which requires sanitising, and indexes cannot be sanitised: declare personalData: false after reviewing what they hold`,
		`syncs/search.cue:15:16: sync "app-postgres" in production: endpoint and repository are a search (opensearch) job's; this sync's engine is postgres`,
	}
	for _, w := range want {
		if !slices.Contains(errs, w) {
			t.Errorf("missing error:\n%s\namong:\n%s", w, strings.Join(errs, "\n"))
		}
	}
}

// A script that is a symbolic link, or lies under a linked directory,
// would bring whatever it points at into a ConfigMap and values.yaml (the
// generating process's /proc/self/environ, with a CI token): refused.
func TestASymlinkedScriptIsRefused(t *testing.T) {
	files := map[string]string{"syncs/app.cue": "package syncs\n\nsyncs: app: {\n" + `	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: {at: "01:00", sanitise: "syncs/sanitise/link.sql"}
	}` + "\n}\n"}
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.sql"), []byte("-- a secret\n"), 0o644)
	for name, link := range map[string]func(root string) error{
		"a linked file": func(root string) error {
			os.MkdirAll(filepath.Join(root, "syncs", "sanitise"), 0o755)
			return os.Symlink("/proc/self/environ", filepath.Join(root, "syncs", "sanitise", "link.sql"))
		},
		"a file under a linked directory": func(root string) error {
			return os.Symlink(outside, filepath.Join(root, "syncs", "sanitise"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			root := writeEstate(t, files)
			if name == "a file under a linked directory" {
				os.Rename(filepath.Join(outside, "secret.sql"), filepath.Join(outside, "link.sql"))
			}
			if err := link(root); err != nil {
				t.Fatal(err)
			}
			e, err := declare.Load(root)
			if err != nil {
				t.Fatal(err)
			}
			errs := check.Estate(e).Errors()
			if len(errs) != 1 || !strings.Contains(errs[0].String(), `sanitise script "syncs/sanitise/link.sql"`) {
				t.Errorf("errors %v, want the linked script refused", errs)
			}
		})
	}
}

// A runbook URL with template braces passes into every alert's
// annotations, where Prometheus (and promtool) refuse every rule.
func TestARunbookURLWithTemplateBracesIsRefused(t *testing.T) {
	errs, _, e := vet(t, app(`	engine: "postgres"
	database: "app_production"
	environments: production: at: "23:00"`))
	if len(errs) != 0 {
		t.Fatalf("the base estate has errors: %v", errs)
	}
	e.Alerting.RunbookURL = "https://runbooks.example.org/{{ $labels.job }}"
	got := check.Estate(e).Errors()
	if len(got) != 1 || !strings.Contains(got[0].String(), "alerting.runbookURL") {
		t.Errorf("errors %v, want the runbook URL refused", got)
	}
}

// A sanitising restore or a publish of an engine with a personal-data
// gate, without a classification, is refused: nothing would prove its
// script did its work. So is one over several databases, which the gate
// cannot check.
func TestASanitisingStepWithoutAClassificationIsRefused(t *testing.T) {
	for name, c := range map[string]struct{ decl, want string }{
		"a sanitising restore": {`	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: at: "01:00"
		integration: {at: "05:00", sanitise: "syncs/sanitise/app.sql"}
	}`, `sync "app" in integration: sanitises into integration without a classification`},
		"a sanitising restore over several databases": {`	engine: "postgres"
	databases: ["app_production", "other_production"]
	environments: {
		production: at: "23:00"
		staging: at: "01:00"
		integration: {at: "05:00", sanitise: {app_production: "syncs/sanitise/app.sql", other_production: "syncs/sanitise/app.sql"}}
	}`, `sync "app" in integration: sanitises into integration over 2 databases: the personal-data gate checks one database`},
	} {
		t.Run(name, func(t *testing.T) {
			files := app(c.decl)
			files["syncs/sanitise/app.sql"] = "UPDATE users SET email = NULL;\n"
			e := loadEstate(t, files)
			integration, _ := e.Environment("integration")
			if !integration.Sanitise {
				t.Fatal("the test estate's integration does not require sanitising: the test proves nothing")
			}
			refused := func() bool {
				for _, f := range check.Estate(e).Errors() {
					if strings.Contains(f.String(), c.want) {
						return true
					}
				}
				return false
			}
			if !refused() {
				t.Errorf("no error %q; findings: %v", c.want, check.Estate(e))
			}
			if len(e.Syncs[0].Databases) > 1 {
				return
			}
			e.Syncs[0].Classification = map[string]map[string]string{"users": {"email": "personal"}}
			if refused() {
				t.Error("still refused once the sync is classified")
			}
		})
	}
}

// A dated suspension past its day is flagged, naming the job, the date and
// the reason; before it, it is not. Suspensions of the environment and the
// sync reach the job.
func TestASuspensionPastItsDateIsFlagged(t *testing.T) {
	defer func(now func() time.Time) { check.Now = now }(check.Now)
	for name, decl := range map[string]string{
		"the job's": `	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", suspend: {until: "2026-03-01", reason: "moving to the new cluster"}}`,
		"the sync's": `	engine: "postgres"
	database: "app_production"
	suspend: {until: "2026-03-01", reason: "moving to the new cluster"}
	environments: production: at: "23:00"`,
	} {
		t.Run(name, func(t *testing.T) {
			root := writeEstate(t, app(decl))
			e, err := declare.Load(root)
			if err != nil {
				t.Fatal(err)
			}
			flagged := func(now time.Time) []string {
				check.Now = func() time.Time { return now }
				var out []string
				for _, f := range check.Estate(e).Warnings() {
					if strings.Contains(f.String(), "suspended until") {
						out = append(out, f.String())
					}
				}
				return out
			}
			if got := flagged(time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)); len(got) != 0 {
				t.Errorf("flagged on its last day: %v", got)
			}
			got := flagged(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
			if len(got) != 1 || !strings.Contains(got[0], "suspended until 2026-03-01 (moving to the new cluster)") || !strings.Contains(got[0], "syncs/app.cue") {
				t.Errorf("the day after: %v", got)
			}
		})
	}
}

// A misspelt field says which one was meant.
func TestAMisspeltFieldSaysWhichOneWasMeant(t *testing.T) {
	for decl, want := range map[string]string{
		"\tengine: \"postgres\"\n\tdatabse: \"app_production\"\n\tenvironments: production: at: \"23:00\"":                             "syncs.app.databse: field not allowed (did you mean database?)",
		"\tengine: \"postgres\"\n\tdatabase: \"app_production\"\n\tenvironments: production: {at: \"23:00\", operatons: [\"backup\"]}": "field not allowed (did you mean operations?)",
	} {
		errs, _, _ := vet(t, app(decl))
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("errors %q, want one saying %q", errs, want)
		}
	}
}

// vet reads the sanitise script against the classification where it can:
// a table or column the classification does not name, and a personal
// column no statement changes, are flagged at the job.
func TestTheScriptIsReadAgainstTheClassification(t *testing.T) {
	files := app(`	engine: "postgres"
	database: "app_production"
	classification: {
		users: {id: "public", email: "personal", name: "personal"}
		events: {id: "public", payload: "personal"}
	}
	environments: {
		production: at: "23:00"
		staging: at: "01:00"
		integration: {at: "05:00", sanitise: "syncs/sanitise/app.sql"}
	}`)
	files["syncs/sanitise/app.sql"] = "-- users\nUPDATE users SET emial = NULL;\nTRUNCATE events;\nDELETE FROM sessions;\n"
	e := loadEstate(t, files)
	var got []string
	for _, f := range check.Estate(e).Warnings() {
		got = append(got, f.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"sanitise script syncs/sanitise/app.sql line 2 sets users.emial, which the classification does not name",
		"sanitise script syncs/sanitise/app.sql line 4 changes table sessions, which the classification does not name",
		"users.email is classified personal, but no statement of syncs/sanitise/app.sql appears to change it",
		"users.name is classified personal, but no statement",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, "events.payload") {
		t.Errorf("a truncated table's personal column was flagged:\n%s", all)
	}
}

// sanitisedFlow is the new flow on the test estate: production publishes
// sanitised dumps (its raw ones kept apart), staging and integration hold
// only sanitised data.
const sanitisedFlow = `package syncs

import "github.com/envsync/envsync/schema"

scratch: schema.#Scratch
environments: {
	production: {publish: "sanitised", rawBucket: "s3://prod-raw"}
	staging: sanitisedOnly: true
	integration: sanitisedOnly: true
}
`

// A sync with personal data publishes in an environment that publishes
// sanitised dumps, and may restore downstream into environments that hold
// only sanitised data; every path by which raw data could reach them is
// refused, naming it.
func TestAFlowInWhichRawDataCouldReachASanitisedOnlyEnvironmentIsRefused(t *testing.T) {
	withFlow := func(files map[string]string) map[string]string {
		files["syncs/flow.cue"] = sanitisedFlow
		files["syncs/sanitise/app.sql"] = "UPDATE users SET email = NULL;\n"
		files["syncs/classification.cue"] = "package syncs\n\nsyncs: app: classification: users: {id: \"public\", email: \"personal\"}\n"
		return files
	}
	// Publishing upstream: no error, and the job publishes by default.
	errs, _, e := vet(t, withFlow(app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: {at: "23:00", sanitise: "syncs/sanitise/app.sql"}
		staging: at: "01:00"
		integration: at: "05:00"
	}`)))
	if len(errs) != 0 {
		t.Fatalf("the sanitised flow is refused: %q", errs)
	}
	if ops := e.Syncs[0].Jobs[0].Operations; len(ops) != 1 || ops[0] != model.Publish {
		t.Fatalf("production's job runs %v, want [publish]", ops)
	}

	for _, c := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name: "a raw backup where the environment publishes sanitised dumps",
			files: withFlow(app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: {at: "23:00", operations: ["backup"]}
		staging: at: "01:00"
	}`)),
			want: `sync "app" in staging: restores app/app_production from production, whose backup of it is raw and kept in its raw bucket s3://prod-raw, which no restore reads`,
		},
		{
			name: "a raw backup where the environment publishes sanitised dumps and keeps no raw ones",
			files: func() map[string]string {
				f := withFlow(app(`	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", operations: ["backup"]}`))
				f["syncs/flow.cue"] = strings.Replace(sanitisedFlow, `, rawBucket: "s3://prod-raw"`, "", 1)
				return f
			}(),
			want: `sync "app" in production: backs up raw data in production, which publishes sanitised dumps and keeps raw ones nowhere`,
		},
		{
			name: "a publish without a script",
			files: withFlow(app(`	engine: "postgres"
	database: "app_production"
	environments: production: at: "23:00"`)),
			want: `sync "app" in production: publishes app_production without a sanitise script`,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs, _, _ := vet(t, c.files)
			if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, c.want) }) {
				t.Fatalf("errors %q, want one containing %q", errs, c.want)
			}
		})
	}

	// The path of raw data is named: staging restores production's raw
	// backup (production does not publish, the sync is restored straight
	// to integration through staging).
	files := app(`	engine: "postgres"
	database: "app_production"
	environments: {
		production: at: "23:00"
		staging: at: "01:00"
		integration: {at: "05:00", sanitise: "syncs/sanitise/app.sql"}
	}`)
	files["syncs/flow.cue"] = strings.Replace(sanitisedFlow, `production: {publish: "sanitised", rawBucket: "s3://prod-raw"}`, "", 1)
	files["syncs/sanitise/app.sql"] = "UPDATE users SET email = NULL;\n"
	errs, _, _ = vet(t, files)
	for _, want := range []string{
		`sync "app" in staging: restores app_production into staging, which holds only sanitised data (sanitisedOnly), but raw data can reach it: staging <- production (backup, raw)`,
	} {
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("errors %q, want one containing %q", errs, want)
		}
	}
	// integration reads staging, which is sanitised-only: its own path is
	// not refused again.
	if slices.ContainsFunc(errs, func(e string) bool {
		return strings.Contains(e, `in integration: restores app_production into integration, which holds only sanitised`)
	}) {
		t.Errorf("integration is refused though it reads a sanitised-only environment: %q", errs)
	}

	// A raw bucket that another environment restores from is refused.
	files = withFlow(app(`	engine: "postgres"
	database: "app_production"
	environments: production: {at: "23:00", sanitise: "syncs/sanitise/app.sql"}`))
	files["syncs/flow.cue"] = strings.Replace(sanitisedFlow, `s3://prod-raw`, `s3://staging-backups`, 1)
	errs, _, _ = vet(t, files)
	if want := "rawBucket s3://staging-backups is the bucket of environment staging"; !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, want) }) {
		t.Errorf("errors %q, want one containing %q", errs, want)
	}
}

// A bucket whose lifecycle expiry is shorter than the gap between the
// backups stored in it, plus the day a restore may wait, is flagged on the
// restore that reads it; a long enough expiry is not.
func TestABucketExpiryShorterThanARestoresNeedIsFlagged(t *testing.T) {
	for days, flagged := range map[int]bool{3: true, 4: false} {
		files := app(`	engine: "postgres"
	database: "app_production"
	personalData: false
	environments: {
		production: at: "23:00"
		staging: at: "01:00"
		integration: at: "05:00"
	}`)
		files["syncs/expiry.cue"] = "package syncs\n\nenvironments: staging: {bucketExpiryDays: " + strconv.Itoa(days) + ", retention: {keep: 3, days: 2}}\n"
		e := loadEstate(t, files)
		found := false
		for _, f := range check.Estate(e).Warnings() {
			if w := f.String(); strings.Contains(w, `sync "app" in integration: restores from staging, whose bucket's lifecycle deletes objects after 3 days (bucketExpiryDays), but staging's backups of app run up to 3d apart`) &&
				strings.Contains(w, "set bucketExpiryDays to at least 4") {
				found = true
			}
		}
		if found != flagged {
			t.Errorf("expiry %d days: flagged %v, want %v; findings: %v", days, found, flagged, check.Estate(e))
		}
		if env, _ := e.Environment("staging"); env.KeepDumps != 3 || env.KeepDays != 2 {
			t.Errorf("staging's retention: keep %d, days %d; want 3 and 2", env.KeepDumps, env.KeepDays)
		}
	}
}
