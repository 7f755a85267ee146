package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func loadFixtures(t *testing.T) *Manifests {
	t.Helper()
	m, err := LoadManifests("testdata/manifests")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fixtureRunner(t *testing.T, m *Manifests) *Runner {
	return &Runner{
		Binary:    "/nonexistent/envsync",
		Manifests: m,
		Secrets:   Secrets{"envsync-chat-postgres": {"username": "chat", "password": "hunter2-not-in-argv"}},
		Overrides: Overrides{
			Databases:   map[string]Endpoint{"chat-postgres": {Host: "127.0.0.1", Port: 15432}, "signon-mysql": {Host: "127.0.0.1", Port: 13306}},
			S3Endpoint:  "http://127.0.0.1:17070",
			Pushgateway: "http://127.0.0.1:19091",
		},
		CallerEnv: []string{"PATH=/usr/bin", "HOME=" + t.TempDir(), "AWS_REGION=eu-west-2", "AWS_SECRET_ACCESS_KEY=caller-secret", "SECRET_NOT_PASSED=1"},
		Now:       func() time.Time { return time.Unix(1_800_000_000, 0) },
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func envOf(p Process) map[string]string {
	m := map[string]string{}
	for _, kv := range p.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestAPlannedContainerGetsTheClusterResolvedEnvironmentWithLocalEndpoints(t *testing.T) {
	m := loadFixtures(t)
	r := fixtureRunner(t, m)
	cj, err := m.CronJob("chat-postgres")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	plan, err := r.PlanJob(cj, work)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{plan.Processes[0].Container, plan.Processes[1].Container}; len(plan.Processes) != 2 || got[0] != "0-restore" || got[1] != "2-backup" {
		t.Fatalf("containers %v, want init container 0-restore then 2-backup", got)
	}
	if plan.Pod != "chat-postgres-30000000-local" || plan.Deadline != 10*time.Minute || plan.Suspended {
		t.Errorf("plan pod %q deadline %s suspended %t", plan.Pod, plan.Deadline, plan.Suspended)
	}
	restore := plan.Processes[0]
	env := envOf(restore)
	want := map[string]string{
		"DB_HOST": "127.0.0.1", "DB_PORT": "15432", // overridden
		"DB_DATABASE": "govuk_chat_production", "DB_INSTANCE": "chat-postgres", // kept
		"DB_USER": "chat", "DB_PASSWORD": "hunter2-not-in-argv",
		"BUCKET":                     "s3://test-staging-database-backups",
		"AWS_ENDPOINT_URL_S3":        "http://127.0.0.1:17070",
		"PROMETHEUS_PUSHGATEWAY_URL": "http://127.0.0.1:19091",
		"POD_NAME":                   plan.Pod, "HOSTNAME": plan.Pod,
		"LABEL":      "chat-postgres-" + plan.Pod,
		"AWS_REGION": "eu-west-2", "PATH": "/usr/bin",
		"TMPDIR": filepath.Join(work, "volumes", "tmp"),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["SECRET_NOT_PASSED"]; ok {
		t.Error("a caller variable outside PATH, HOME, locale and AWS_* reached the container")
	}
	script, err := os.ReadFile(env["SANITISE_SCRIPT"])
	if err != nil || !strings.Contains(string(script), "UPDATE users SET email") {
		t.Errorf("SANITISE_SCRIPT=%s does not hold the ConfigMap's chat.sql: %q, %v", env["SANITISE_SCRIPT"], script, err)
	}
	if strings.Join(restore.Args, " ") != "run restore" || strings.Join(plan.Processes[1].Args, " ") != "run backup" {
		t.Errorf("args %q and %q, want the containers' args after the envsync command", restore.Args, plan.Processes[1].Args)
	}
	for _, p := range plan.Processes {
		for _, a := range p.Args {
			if strings.Contains(a, "hunter2") {
				t.Errorf("password in the arguments of %s", p.Container)
			}
		}
		for _, kv := range p.Redacted() {
			if strings.Contains(kv, "hunter2") || strings.Contains(kv, "caller-secret") {
				t.Errorf("Redacted shows a secret: %s", kv)
			}
		}
	}
}

func TestAMissingSecretKeyNamesTheJobContainerSecretAndKey(t *testing.T) {
	m := loadFixtures(t)
	r := fixtureRunner(t, m)
	r.Secrets = Secrets{"envsync-chat-postgres": {"username": "chat"}}
	cj, _ := m.CronJob("chat-postgres")
	_, err := r.PlanJob(cj, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "CronJob chat-postgres, container 0-restore: env DB_PASSWORD: Secret envsync-chat-postgres has no key password") {
		t.Fatalf("error %v", err)
	}
}

func TestAnInstanceWithoutALocalDatabaseIsRefusedOnceAnyIsGiven(t *testing.T) {
	m := loadFixtures(t)
	r := fixtureRunner(t, m)
	r.Overrides.Databases = map[string]Endpoint{"other": {Host: "127.0.0.1", Port: 1}}
	cj, _ := m.CronJob("chat-postgres")
	_, err := r.PlanJob(cj, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `no local database given for instance "chat-postgres"`) {
		t.Fatalf("error %v", err)
	}
}

// standIn writes an executable called envsync that records its arguments
// in $HOME/calls and fails for "run <failOp>".
func standIn(t *testing.T, failOp string) string {
	dir := t.TempDir()
	bin := filepath.Join(dir, "envsync")
	script := "#!/bin/sh\necho \"$*\" >>\"$HOME/calls\"\n[ \"$2\" = \"" + failOp + "\" ] && exit 3\nexit 0\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func calls(t *testing.T, r *Runner) string {
	home := strings.TrimPrefix(r.CallerEnv[1], "HOME=")
	b, _ := os.ReadFile(filepath.Join(home, "calls"))
	return strings.TrimSpace(string(b))
}

func TestAJobStopsAtItsFirstFailingContainerLikeAPodThatNeverRestarts(t *testing.T) {
	m := loadFixtures(t)
	r := fixtureRunner(t, m)
	r.Binary = standIn(t, "restore")
	cj, _ := m.CronJob("chat-postgres")
	err := r.Run(context.Background(), cj)
	var ce *ContainerError
	if !errors.As(err, &ce) || ce.Container != "0-restore" {
		t.Fatalf("Run = %v, want the failure of container 0-restore", err)
	}
	if got := calls(t, r); got != "run restore" {
		t.Fatalf("processes run: %q, want only the failing restore", got)
	}
}

func TestAJobRunsEveryContainerInOrderWhenEachSucceeds(t *testing.T) {
	m := loadFixtures(t)
	r := fixtureRunner(t, m)
	r.Binary = standIn(t, "none")
	cj, _ := m.CronJob("chat-postgres")
	if err := r.Run(context.Background(), cj); err != nil {
		t.Fatal(err)
	}
	if got := calls(t, r); got != "run restore\nrun backup" {
		t.Fatalf("processes run: %q, want restore then backup", got)
	}
}

func TestASuspendedCronJobRunsOnlyWhenForced(t *testing.T) {
	m := loadFixtures(t)
	r := fixtureRunner(t, m)
	r.Binary = standIn(t, "none")
	cj, _ := m.CronJob("signon-mysql-restore")
	if err := r.Run(context.Background(), cj); !errors.Is(err, ErrSuspended) {
		t.Fatalf("Run of a suspended CronJob = %v, want ErrSuspended", err)
	}
	if got := calls(t, r); got != "" {
		t.Fatalf("a suspended CronJob ran %q", got)
	}
	r.Force = true
	if err := r.Run(context.Background(), cj); err != nil {
		t.Fatal(err)
	}
	if got := calls(t, r); got != "run restore" {
		t.Fatalf("forced run: %q", got)
	}
}

func TestSecretsAreReadFromAFileOrAnEnvironmentVariableAndParseErrorsHideValues(t *testing.T) {
	f := filepath.Join(t.TempDir(), "secrets.yaml")
	os.WriteFile(f, []byte("envsync-chat-postgres:\n  username: chat\n  password: pw\n"), 0o600)
	s, err := LoadSecrets(f)
	if err != nil || s["envsync-chat-postgres"]["password"] != "pw" {
		t.Fatalf("LoadSecrets(file) = %v, %v", s, err)
	}
	t.Setenv("ENVSYNC_TEST_SECRETS", "envsync-chat-postgres:\n  password: [hunter2]\n")
	_, err = LoadSecrets("env:ENVSYNC_TEST_SECRETS")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("LoadSecrets of a malformed value = %v, want an error without the value", err)
	}
}

func TestEveryGeneratedCronJobOfTheExampleEstatePlansIntoEnvsyncProcesses(t *testing.T) {
	dirs, _ := filepath.Glob("../out/*/manifests")
	if len(dirs) == 0 {
		t.Fatal("no ../out/*/manifests: run 'make gen'")
	}
	jobs := 0
	for _, dir := range dirs {
		m, err := LoadManifests(dir)
		if err != nil {
			t.Fatal(err)
		}
		r := &Runner{Manifests: m, PlanOnly: true, CallerEnv: []string{}, Secrets: Secrets{}}
		// Publishing jobs' scratch sidecars are stood in for by local servers.
		r.Overrides.Scratch = map[string]Endpoint{}
		for _, eng := range []string{"postgres", "mysql", "mongo"} {
			r.Overrides.Scratch[eng] = Endpoint{Host: "127.0.0.1", Port: 1}
			r.Secrets[ScratchSecret(eng)] = map[string]string{"username": "scratch", "password": "scratch-pw"}
		}
		for _, cj := range m.CronJobs {
			plan, err := r.PlanJob(cj, t.TempDir())
			if err != nil {
				t.Errorf("%s: %v", dir, err)
				continue
			}
			jobs++
			for _, p := range plan.Processes {
				if len(p.Args) != 2 || p.Args[0] != "run" {
					t.Errorf("%s: %s container %s runs %q, want run <operation>", dir, cj.Name, p.Container, p.Args)
					continue
				}
				// kubectl logs -c 0-restore: the name says the operation.
				order := map[string]int{"restore": 0, "transform": 1, "backup": 2, "publish": 3}[p.Args[1]]
				if want := fmt.Sprintf("%d-%s", order, p.Args[1]); p.Container != want && !strings.HasPrefix(p.Container, want+"-") {
					t.Errorf("%s: %s container %s runs %s, want it named %s[-database]", dir, cj.Name, p.Container, p.Args[1], want)
				}
				env := envOf(p)
				if p.Args[1] == "publish" {
					b, err := os.ReadFile(env["SCRATCH_PASSWORD_FILE"])
					if err != nil || string(b) != "scratch-pw\n" || env["SCRATCH_HOST"] != "127.0.0.1" || env["SCRATCH_PORT"] != "1" || env["SCRATCH_USER"] != "scratch" {
						t.Errorf("%s: %s: the publish does not reach the local scratch server: %q %v %v", dir, cj.Name, b, err, p.Redacted())
					}
				}
				if s := env["SANITISE_SCRIPT"]; s != "" {
					if _, err := os.Stat(s); err != nil {
						t.Errorf("%s: %s container %s: SANITISE_SCRIPT %s is not a written file: %v", dir, cj.Name, p.Container, s, err)
					}
				}
				where := "BUCKET" // a search job's copies are in its cluster's repository
				if env["DB_ENGINE"] == "opensearch" {
					where = "SNAPSHOT_REPOSITORY"
				}
				for _, k := range []string{"DB_ENGINE", "DB_INSTANCE", "DB_DATABASE", where, "ENVIRONMENT"} {
					if env[k] == "" {
						t.Errorf("%s: %s container %s has no %s", dir, cj.Name, p.Container, k)
					}
				}
			}
		}
	}
	if jobs < 20 {
		t.Errorf("planned %d CronJobs, want the whole example estate", jobs)
	}
}

func TestKubernetesVariableReferencesExpandAsTheKubeletDoes(t *testing.T) {
	env := map[string]string{"A": "x", "B": "y"}
	for in, want := range map[string]string{
		"$(A)-$(B)": "x-y",
		"$$(A)":     "$(A)",
		"$(C)":      "$(C)",
		"$(A":       "$(A",
		"plain":     "plain",
		"$":         "$",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBucketsDirServesS3BucketsFromLocalFoldersUnderTheirNames(t *testing.T) {
	m := loadFixtures(t)
	r := fixtureRunner(t, m)
	r.Overrides.BucketsDir = "/var/tmp/buckets"
	cj, _ := m.CronJob("chat-postgres")
	plan, err := r.PlanJob(cj, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := envOf(plan.Processes[0])["BUCKET"]; got != "file:///var/tmp/buckets/test-staging-database-backups" {
		t.Errorf("BUCKET = %q", got)
	}
}

func TestEndpointsAreHostColonPort(t *testing.T) {
	if ep, err := ParseEndpoint("127.0.0.1:5433"); err != nil || ep != (Endpoint{"127.0.0.1", 5433}) {
		t.Errorf("ParseEndpoint(127.0.0.1:5433) = %v, %v", ep, err)
	}
	for _, bad := range []string{"127.0.0.1", "host:port", "host:0", "host:70000"} {
		if _, err := ParseEndpoint(bad); err == nil {
			t.Errorf("ParseEndpoint(%q) accepted", bad)
		}
	}
}

func TestFilenameGoesToTheRestoreContainersOnlyAndSetEnvToEveryContainer(t *testing.T) {
	m := loadFixtures(t)
	r := fixtureRunner(t, m)
	r.Overrides.Filename = "2026-11-30T014700Z"
	r.Overrides.Env = map[string]string{"DB_AUTH_MECHANISM": "PLAIN"}
	cj, _ := m.CronJob("chat-postgres")
	plan, err := r.PlanJob(cj, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	restores := 0
	for _, p := range plan.Processes {
		env := envOf(p)
		isRestore := slices.Contains(p.Args, "restore")
		if isRestore {
			restores++
		}
		if got, has := env["FILENAME"]; has != isRestore || (isRestore && got != "2026-11-30T014700Z") {
			t.Errorf("%v: FILENAME %q (set: %v)", p.Args, got, has)
		}
		if env["DB_AUTH_MECHANISM"] != "PLAIN" {
			t.Errorf("%v: --set-env not applied", p.Args)
		}
	}
	if restores == 0 || len(plan.Processes) < 2 {
		t.Fatalf("the fixture job has %d processes, %d restoring: the test proves nothing", len(plan.Processes), restores)
	}
}

func TestAConfigMapOutsideOutIsMountedFromTheFileGiven(t *testing.T) {
	m := loadFixtures(t)
	r := fixtureRunner(t, m)
	cj, _ := m.CronJob("chat-postgres")
	cj = cj.DeepCopy()
	spec := &cj.Spec.JobTemplate.Spec.Template.Spec
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "rds-ca"}}}})
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			cs[i].VolumeMounts = append(cs[i].VolumeMounts, corev1.VolumeMount{Name: "ca", MountPath: "/etc/envsync/tls", ReadOnly: true})
			cs[i].Env = append(cs[i].Env, corev1.EnvVar{Name: "DB_SSLROOTCERT", Value: "/etc/envsync/tls/ca.pem"})
		}
	}
	if _, err := r.PlanJob(cj, t.TempDir()); err == nil || !strings.Contains(err.Error(), "--configmap-file rds-ca/KEY=PATH") {
		t.Fatalf("a ConfigMap neither in out/ nor given: %v", err)
	}
	r.ConfigMaps = map[string]map[string]string{"rds-ca": {"ca.pem": "-----BEGIN CERTIFICATE-----\n"}}
	plan, err := r.PlanJob(cj, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plan.Processes {
		path := envOf(p)["DB_SSLROOTCERT"]
		if b, err := os.ReadFile(path); err != nil || string(b) != "-----BEGIN CERTIFICATE-----\n" {
			t.Errorf("%v: DB_SSLROOTCERT %s holds %q (%v)", p.Args, path, b, err)
		}
	}
}

func TestACronJobIsFoundByItsNameOrByItsSyncsName(t *testing.T) {
	m, err := LoadManifests("../out/staging/manifests")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"db-backup-chat-postgres", "chat-postgres"} {
		cj, err := m.CronJob(name)
		if err != nil || cj.Name != "db-backup-chat-postgres" {
			t.Errorf("CronJob(%q) = %v, %v; want the example estate's db-backup-chat-postgres", name, cj, err)
		}
	}
	if _, err := m.CronJob("chat"); err == nil || !strings.Contains(err.Error(), "there are: ") {
		t.Errorf("an unknown name: %v", err)
	}
}

// A roll-back runs the restore alone: with Only, the other operations'
// containers are not planned.
func TestOnlyRunsTheNamedOperationsContainers(t *testing.T) {
	m := loadFixtures(t)
	r := fixtureRunner(t, m)
	cj, _ := m.CronJob("chat-postgres")
	all, err := r.PlanJob(cj, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r.Overrides.Only = []string{"restore"}
	plan, err := r.PlanJob(cj, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Processes) < 2 || len(plan.Processes) != 1 || !slices.Contains(plan.Processes[0].Args, "restore") {
		t.Errorf("planned %d of %d containers: %v", len(plan.Processes), len(all.Processes), plan.Processes)
	}
}
