package runner_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/runner"
	"github.com/envsync/envsync/runner/engine"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTheOwnerRoleIsDerivedFromTheDatabaseNameLikeTheOldScripts(t *testing.T) {
	for db, want := range map[string]string{
		"content_store_production":       "content_store",
		"draft-content-store_production": "content_store",
		"draft_content_store_production": "content_store",
		"whitehall-admin":                "whitehall_admin",
		"chat":                           "chat",
	} {
		if got := runner.DefaultOwner(db); got != want {
			t.Errorf("DefaultOwner(%q) = %q, want %q", db, got, want)
		}
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestTheEnvironmentOfTheOldScriptsConfiguresTheRunner(t *testing.T) {
	c, err := runner.FromEnv(env(map[string]string{
		"DB_ENGINE": "postgres", "DB_HOST": "chat-postgres.example", "DB_PORT": "5433",
		"DB_USER": "u", "DB_PASSWORD": "p", "DB_DATABASE": "draft-chat_production",
		"BUCKET": "s3://b", "GOVUK_ENVIRONMENT": "integration", "HOSTNAME": "pod-1",
		"REALLY_RESTORE_ONTO_PRODUCTION": "yes", "ENVSYNC_PART_SIZE_MIB": "64",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c = c.WithDefaults()
	if c.DB.Port != 5433 || c.DB.Owner != "chat" || c.Instance != "chat-postgres.example" || c.Environment != "integration" ||
		!c.ReallyRestoreOntoProduction || c.Upload.PartSize != 64<<20 || c.Pod != "pod-1" {
		t.Errorf("config %+v", c)
	}
	if err := c.Validate("restore"); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestBadSettingsAreNamedInTheError(t *testing.T) {
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"a port that is not a number":    {map[string]string{"DB_PORT": "fivefourthreetwo"}, "DB_PORT"},
		"an unclear production opt-in":   {map[string]string{"REALLY_RESTORE_ONTO_PRODUCTION": "maybe"}, "REALLY_RESTORE_ONTO_PRODUCTION"},
		"parts smaller than S3 accepts":  {map[string]string{"ENVSYNC_PART_SIZE_MIB": "1"}, "ENVSYNC_PART_SIZE_MIB"},
		"a stall timeout without a unit": {map[string]string{"ENVSYNC_STALL_TIMEOUT": "300"}, `ENVSYNC_STALL_TIMEOUT "300": want a duration`},
		"a stall timeout of nothing":     {map[string]string{"ENVSYNC_STALL_TIMEOUT": "0s"}, "ENVSYNC_STALL_TIMEOUT"},
		"a scratch port out of range":    {map[string]string{"SCRATCH_PORT": "70000"}, "SCRATCH_PORT"},
		"a scratch wait without a unit":  {map[string]string{"ENVSYNC_SCRATCH_WAIT": "60"}, "ENVSYNC_SCRATCH_WAIT"},
	} {
		_, err := runner.FromEnv(env(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", name, err, c.want)
		}
	}
	c, _ := runner.FromEnv(env(map[string]string{"DB_ENGINE": "postgres", "DB_HOST": "h", "DB_DATABASE": "d"}))
	if err := c.WithDefaults().Validate("backup"); err == nil || !strings.Contains(err.Error(), "BUCKET") {
		t.Errorf("a backup without BUCKET: %v", err)
	}
	// Every bad setting at once, not the first only.
	_, err := runner.FromEnv(env(map[string]string{"DB_PORT": "x", "ENVSYNC_STALL_TIMEOUT": "1", "SCRATCH_PORT": "0", "ENVSYNC_KEEP_DUMPS": "1", "DB_SSLMODE": "sometimes"}))
	for _, want := range []string{"DB_PORT", "ENVSYNC_STALL_TIMEOUT", "SCRATCH_PORT", "ENVSYNC_KEEP_DUMPS", "sometimes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("several bad settings: %v does not name %s", err, want)
		}
	}
	// A publish names what it lacks: its script, its scratch server, a raw
	// bucket that is the published one.
	c, _ = runner.FromEnv(env(map[string]string{"DB_ENGINE": "postgres", "DB_HOST": "h", "DB_DATABASE": "d", "BUCKET": "s3://b", "RAW_BUCKET": "s3://b"}))
	err = c.WithDefaults().Validate(runner.OpPublish)
	for _, want := range []string{"SANITISE_SCRIPT", "SCRATCH_USER", "SCRATCH_PASSWORD_FILE", "RAW_BUCKET is BUCKET"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a publish without its settings: %v does not name %s", err, want)
		}
	}
}

func TestARestoreOrTransformIntoProductionIsRefusedBeforeAnythingIsOpened(t *testing.T) {
	cfg := runner.Config{Engine: "postgres", DB: engine.Config{Host: "h", Database: "d"}, Bucket: "s3://b", Environment: "production"}
	for _, op := range []string{"restore", "transform"} {
		// No engine is registered: reaching the engine lookup would give another error.
		_, err := runner.Open(context.Background(), op, cfg, runner.Engines{}, slog.Default())
		if err == nil || !strings.Contains(err.Error(), "REALLY_RESTORE_ONTO_PRODUCTION") {
			t.Errorf("%s into production: %v, want a refusal naming REALLY_RESTORE_ONTO_PRODUCTION", op, err)
		}
	}
	if _, err := runner.Open(context.Background(), "backup", cfg, runner.Engines{}, slog.Default()); err == nil || !strings.Contains(err.Error(), "DB_ENGINE") {
		t.Errorf("a backup of production is not refused for being production: %v", err)
	}
}

// Every variable the runner reads is in the contract's one table, from
// which run --help, the generator's and the importer's lists come.
func TestEveryVariableTheRunnerReadsIsInTheContract(t *testing.T) {
	read := map[string]bool{}
	runner.FromEnv(func(k string) string { read[k] = true; return "" })
	if len(read) < 20 {
		t.Fatalf("FromEnv read only %d variables: the test proves nothing", len(read))
	}
	for k := range read {
		if k == "HOSTNAME" {
			continue // the pod's name, set by Kubernetes
		}
		if !slices.ContainsFunc(contract.Variables, func(v contract.Variable) bool { return v.Name == k }) {
			t.Errorf("FromEnv reads %s, which contract.Variables does not list", k)
		}
	}
}
