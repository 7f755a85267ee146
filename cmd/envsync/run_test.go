package main

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envsync/envsync/contract"
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

// The stop-requested line is logged for a signal and only for one: the
// end of every run cancels the same context.
func TestAStopIsLoggedOnlyWhenASignalArrives(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "envsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// A run that fails at once, before any signal.
	cmd := exec.Command(bin, "run", "restore")
	cmd.Env = []string{"DB_ENGINE=postgres", "DB_HOST=127.0.0.1", "DB_DATABASE=x", "BUCKET=file://" + t.TempDir(), "ENVIRONMENT=production"}
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "stop requested") {
		t.Errorf("a run that ended by itself logged a stop:\n%s", out)
	}
	// A run that waits on an S3 endpoint that accepts and never answers,
	// then gets SIGTERM.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cmd = exec.Command(bin, "run", "restore")
	cmd.Env = []string{"DB_ENGINE=postgres", "DB_HOST=127.0.0.1", "DB_PORT=9", "DB_USER=u", "DB_DATABASE=x", "BUCKET=s3://b", "ENVIRONMENT=staging",
		"AWS_ENDPOINT_URL_S3=http://" + hung.Addr().String(), "AWS_REGION=x", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_EC2_METADATA_DISABLED=true"}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if !strings.Contains(logs.String(), `"msg":"stop requested, stopping and cleaning up"`) {
		t.Errorf("a SIGTERM was not logged:\n%s", logs.String())
	}
}

// Completion offers the estate's environments, then its syncs or
// instances there (cobra's hidden __complete command is what the shell
// scripts call).
func TestCompletionOffersWhatTheEstateDeclares(t *testing.T) {
	t.Chdir(testEstate(t))
	for args, want := range map[string]string{
		"__complete local ":           "integration",
		"__complete local staging ch": "chat-postgres",
		"__complete dumps staging ":   "whitehall-mysql",
		"__complete classify ":        "whitehall-mysql",
	} {
		fields := strings.Fields(args)
		if strings.HasSuffix(args, " ") {
			fields = append(fields, "")
		}
		out, _, err := envsync(t, fields...)
		if err != nil || !strings.Contains(out, want+"\n") {
			t.Errorf("envsync %s: %v, want %s among\n%s", args, err, want, out)
		}
	}
}

// The flags come from the contract's table of variables, and a value
// given by flag is parsed as the variable's would be: every bad one is
// named at once, by its variable.
func TestRunFlagsAreTheContractsAndBadValuesAreNamedAtOnce(t *testing.T) {
	run, _, _ := root.Find([]string{"run"})
	for _, v := range append(contract.Variables, contract.Pod) {
		if v.Flag != "" && run.Flags().Lookup(v.Flag) == nil {
			t.Errorf("%s declares flag --%s, which envsync run lacks", v.Name, v.Flag)
		}
	}
	t.Setenv("ENVIRONMENT", "staging")
	t.Setenv("DB_ENGINE", "postgres")
	t.Setenv("DB_HOST", "127.0.0.1")
	t.Setenv("DB_DATABASE", "chat")
	t.Setenv("BUCKET", "file://"+t.TempDir())
	err := execute(t, "run", "backup", "--port=fivefourthreetwo", "--sslmode=sometimes", "--really-restore-onto-production=perhaps")
	for _, want := range []string{"DB_PORT", "DB_SSLMODE", "REALLY_RESTORE_ONTO_PRODUCTION"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad values by flag: %v, want %s named", err, want)
		}
	}
}
