package declare_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/declare/declaretest"
	"github.com/envsync/envsync/model"
)

func loadExample(t *testing.T) *model.Estate { return declaretest.Example(t) }

func job(t *testing.T, e *model.Estate, sync, env string) model.Job {
	t.Helper()
	for _, s := range e.Syncs {
		if s.Name != sync {
			continue
		}
		for _, j := range s.Jobs {
			if j.Environment == env {
				return j
			}
		}
		t.Fatalf("sync %s has no job in %s", sync, env)
	}
	t.Fatalf("no sync %s", sync)
	return model.Job{}
}

func sync(t *testing.T, e *model.Estate, name string) model.Sync {
	t.Helper()
	for _, s := range e.Syncs {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no sync %s", name)
	return model.Sync{}
}

func TestTheExampleEstateDeclaresEveryRowInEveryEnvironment(t *testing.T) {
	e := loadExample(t)
	count := map[string]int{}
	for _, s := range e.Syncs {
		for _, j := range s.Jobs {
			count[j.Environment]++
		}
	}
	// 27 rows; account-api has no staging job; integration also has
	// signon's suspended restore.
	want := map[string]int{"production": 28, "staging": 27, "integration": 29}
	for env, n := range want {
		if count[env] != n {
			t.Errorf("%s: %d jobs, want %d", env, count[env], n)
		}
	}
	if !slices.IsSortedFunc(e.Syncs, func(a, b model.Sync) int { return cmpString(a.Name, b.Name) }) {
		t.Error("syncs are not sorted by name")
	}
	var envs []string
	for _, env := range e.Environments {
		envs = append(envs, env.Name)
	}
	if !slices.Equal(envs, []string{"production", "staging", "integration"}) {
		t.Errorf("environments in declaration order: %v", envs)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestAPlainSyncGetsItsDefaultsFromTheSchemaAndTheFlow(t *testing.T) {
	e := loadExample(t)
	s := sync(t, e, "chat-postgres")
	if s.Instance != "chat-postgres" || s.Host != "chat-postgres" || s.Port != 5432 ||
		s.Secret != "envsync-chat-postgres" || s.Owner != "govuk_chat" {
		t.Errorf("defaults: %+v", s)
	}
	if s.Tier[model.Backup] != "quicker" || s.Tier[model.Restore] != "quicker" {
		t.Errorf("tier: %v", s.Tier)
	}
	if s.Pos.File != "syncs/chat.cue" || s.Pos.Line != 3 {
		t.Errorf("position: %+v", s.Pos)
	}
	for env, want := range map[string]struct {
		schedule string
		ops      []model.Operation
		from     string
	}{
		// Production publishes sanitised dumps: a sync with personal data
		// publishes there by default.
		"production":  {"47 22 * * *", []model.Operation{model.Publish}, ""},
		"staging":     {"47 1 * * 1-5", []model.Operation{model.Restore, model.Backup}, "production"},
		"integration": {"47 3 * * 1", []model.Operation{model.Restore, model.Backup}, "staging"},
	} {
		j := job(t, e, "chat-postgres", env)
		if j.Schedule != want.schedule || !slices.Equal(j.Operations, want.ops) || j.RestoreFrom != want.from || !j.Runs() {
			t.Errorf("%s: %+v, want %+v", env, j, want)
		}
	}
}

func TestTheOwnerRoleFollowsTheEstatesRuleUnlessDeclared(t *testing.T) {
	e := loadExample(t)
	for name, want := range map[string]string{
		"draft-content-store-postgres":      "content_store",
		"service-manual-publisher-postgres": "service_manual_publisher",
		"email-alert-api-postgres":          "email-alert-api",
		"publishing-api-postgres":           "publishing-api-owner-role",
		"places-manager-postgres":           "imminence",
	} {
		if got := sync(t, e, name).Owner; got != want {
			t.Errorf("%s: owner %q, want %q", name, got, want)
		}
	}
}

func TestTheOddRowsOfTheEstateResolveAsDeclared(t *testing.T) {
	e := loadExample(t)
	for _, s := range e.Syncs {
		if s.Name == "account-api-postgres" {
			for _, j := range s.Jobs {
				if j.Environment == "staging" {
					t.Error("account-api must have no staging job")
				}
			}
		}
	}
	if j := job(t, e, "account-api-postgres", "integration"); !slices.Equal(j.Operations, []model.Operation{model.Backup}) {
		t.Errorf("account-api integration: %v, want backup only", j.Operations)
	}

	r := sync(t, e, "signon-mysql-restore")
	rj := job(t, e, "signon-mysql-restore", "integration")
	if r.Instance != "signon-mysql" || r.Secret != "envsync-signon-mysql" || !rj.Suspend || rj.Runs() ||
		rj.RestoreFrom != "integration" || rj.Schedule != "0 0 * * 1" || !slices.Equal(rj.Operations, []model.Operation{model.Restore}) {
		t.Errorf("signon's suspended restore: %+v %+v", r, rj)
	}
	if j := job(t, e, "signon-mysql", "staging"); !slices.Equal(j.Operations, []model.Operation{model.Restore}) {
		t.Errorf("signon staging: %v, want restore only", j.Operations)
	}
	if j := job(t, e, "signon-mysql", "integration"); j.Schedule != "3 3 * * *" {
		t.Errorf("signon integration: %q, want daily", j.Schedule)
	}

	m := sync(t, e, "shared-documentdb")
	if !slices.Equal(m.Databases, []string{"publisher_production", "short_url_manager_production",
		"travel_advice_publisher_production", "govuk_content_production"}) {
		t.Errorf("shared-documentdb databases out of order: %v", m.Databases)
	}
	// Reviewed as holding no personal data: backed up as it is, even in
	// production, which publishes sanitised dumps.
	if mj := job(t, e, "shared-documentdb", "production"); !slices.Equal(mj.Operations, []model.Operation{model.Backup}) || len(mj.Sanitise) != 0 {
		t.Errorf("shared-documentdb production: %+v", mj)
	}
	aj := job(t, e, "asset-manager-documentdb", "production")
	if !slices.Equal(aj.Operations, []model.Operation{model.Publish}) || aj.Sanitise["govuk_assets_production"] != "syncs/sanitise/asset-manager.js" {
		t.Errorf("asset-manager production: %+v", aj)
	}
	if a := sync(t, e, "asset-manager-documentdb"); a.Instance != "shared-documentdb" || a.Secret != "envsync-shared-documentdb" {
		t.Errorf("asset-manager shares shared-documentdb's cluster: %+v", a)
	}
	if j := job(t, e, "account-api-postgres", "production"); !slices.Equal(j.Operations, []model.Operation{model.Backup}) {
		t.Errorf("account-api production: %v, want a (raw) backup", j.Operations)
	}

	c := sync(t, e, "content-data-api-postgres")
	if c.Tier[model.Backup] != "slower" || c.Tier[model.Restore] != "slowest" || c.MaxRunTime != 24*time.Hour {
		t.Errorf("content-data-api: %v %v", c.Tier, c.MaxRunTime)
	}
	for _, tc := range []struct{ sync, env, want string }{
		{"ckan-postgres", "staging", "43 1 * * 0"},
		{"content-data-api-postgres", "staging", "40 3 * * 6"},
		{"content-data-api-postgres", "integration", "37 1 * * 0"},
		{"content-store-postgres", "staging", "6 22 * * 0-4"},
		{"content-store-postgres", "integration", "6 23 * * 0"},
		{"release-mysql", "staging", "11 1 * * 1"},
	} {
		if got := job(t, e, tc.sync, tc.env).Schedule; got != tc.want {
			t.Errorf("%s in %s: schedule %q, want %q", tc.sync, tc.env, got, tc.want)
		}
	}
}

func TestCronDaysAreWrittenTheWayPeopleWriteThem(t *testing.T) {
	for _, tc := range []struct {
		days []time.Weekday
		want string
	}{
		{[]time.Weekday{0, 1, 2, 3, 4, 5, 6}, "*"},
		{[]time.Weekday{1, 2, 3, 4, 5}, "1-5"},
		{[]time.Weekday{0, 1, 2, 3, 4}, "0-4"},
		{[]time.Weekday{6}, "6"},
		{[]time.Weekday{1, 3}, "1,3"},
		{[]time.Weekday{0, 6}, "0,6"},
	} {
		if got := declare.CronDays(tc.days); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.days, got, tc.want)
		}
	}
}

func TestEveryErrorIsReportedNotJustTheFirst(t *testing.T) {
	root, _ := declare.FindRoot(".")
	dir := t.TempDir()
	for _, p := range []string{"cue.mod/module.cue", "schema/schema.cue", "syncs/estate.cue", "syncs/sanitise/chat.sql"} {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), data, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "syncs/a.cue"), []byte("package syncs\n\nsyncs: a: {engine: \"postgres\", database: \"a\", tier: 3, environments: production: at: \"23:00\"}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "syncs/b.cue"), []byte("package syncs\n\nsyncs: b: {engine: \"postgres\", database: \"b\", environments: production: at: \"9:00\"}\n"), 0o644)
	_, err := declare.Load(dir)
	var es declare.Errors
	if !errors.As(err, &es) {
		t.Fatalf("want declare.Errors, got %v", err)
	}
	files := map[string]bool{}
	for _, e := range es {
		files[e.Pos.File] = true
	}
	if !files["syncs/a.cue"] || !files["syncs/b.cue"] {
		t.Fatalf("want errors in both files, got:\n%v", es)
	}
}
