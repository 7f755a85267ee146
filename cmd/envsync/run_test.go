package main

import (
	"strings"
	"testing"
)

func execute(t *testing.T, args ...string) error {
	t.Helper()
	root.SetArgs(args)
	defer root.SetArgs(nil)
	return root.Execute()
}

func TestRunHasNoPasswordFlag(t *testing.T) {
	err := execute(t, "run", "backup", "--password=hunter2")
	if err == nil || !strings.Contains(err.Error(), "unknown flag: --password") {
		t.Fatalf("--password: %v, want an unknown flag error (the password comes from DB_PASSWORD only)", err)
	}
}

func TestRunFlagsOverrideTheEnvironment(t *testing.T) {
	t.Setenv("ENVIRONMENT", "staging")
	t.Setenv("DB_ENGINE", "postgres")
	t.Setenv("DB_HOST", "127.0.0.1")
	t.Setenv("DB_DATABASE", "chat")
	t.Setenv("DB_USER", "chat")
	t.Setenv("BUCKET", "file://"+t.TempDir())
	err := execute(t, "run", "restore", "--environment=production")
	if err == nil || !strings.Contains(err.Error(), "REALLY_RESTORE_ONTO_PRODUCTION") {
		t.Fatalf("--environment=production over ENVIRONMENT=staging: %v, want the production refusal", err)
	}
	t.Setenv("ENVIRONMENT", "production")
	err = execute(t, "run", "restore", "--environment=staging", "--bucket=gs://nope")
	if err == nil || !strings.Contains(err.Error(), "BUCKET \"gs://nope\"") {
		t.Fatalf("--environment=staging --bucket=gs://nope: %v, want the bucket refused (the flag won over the environment)", err)
	}
}

func TestVersionIsPrinted(t *testing.T) {
	out, _, err := envsync(t, "--version")
	if err != nil || !strings.HasPrefix(out, "envsync version ") || len(strings.TrimSpace(out)) <= len("envsync version ") {
		t.Errorf("--version printed %q (%v)", out, err)
	}
}

// A missing argument is named, not counted.
func TestAMissingArgumentIsNamed(t *testing.T) {
	for args, want := range map[string]string{
		"dumps staging":           "missing INSTANCE",
		"dumps":                   "missing ENVIRONMENT and INSTANCE",
		"dumps staging a b extra": `unexpected argument "extra"`,
		"classify":                "missing SYNC",
	} {
		_, _, err := envsync(t, strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("envsync %s: %v, want %q", args, err, want)
		}
	}
}
