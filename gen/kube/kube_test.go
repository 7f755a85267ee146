package kube_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/gen/kube"
	"github.com/envsync/envsync/model"
)

func cronJobs(t *testing.T, e *model.Estate, env string) []batchv1.CronJob {
	t.Helper()
	cjs, err := kube.CronJobs(e, env)
	if err != nil {
		t.Fatal(err)
	}
	return cjs
}

// allCronJobs are the CronJobs of every environment of both the test
// estate and the example estate in syncs/, with the estate each came from.
func allCronJobs(t *testing.T) []estateCronJob {
	t.Helper()
	var all []estateCronJob
	for _, e := range []*model.Estate{testEstate(t), exampleEstate(t)} {
		n := len(all)
		for _, env := range e.Environments {
			for _, cj := range cronJobs(t, e, env.Name) {
				all = append(all, estateCronJob{e, cj})
			}
		}
		if len(all) == n {
			t.Fatal("an estate gives no CronJobs at all")
		}
	}
	return all
}

type estateCronJob struct {
	estate *model.Estate
	batchv1.CronJob
}

func TestEveryPodRunsAsTheRunnerUserWithARestrictedSecurityContextAndAWritableTmp(t *testing.T) {
	for _, cj := range allCronJobs(t) {
		pod := cj.Spec.JobTemplate.Spec.Template.Spec
		sc := pod.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: pod does not require a non-root user", cj.Name)
			continue
		}
		for what, id := range map[string]*int64{"runAsUser": sc.RunAsUser, "runAsGroup": sc.RunAsGroup, "fsGroup": sc.FSGroup} {
			if id == nil || *id != kube.RunnerUID {
				t.Errorf("%s: pod %s is %v, want the runner image's %d", cj.Name, what, id, kube.RunnerUID)
			}
		}
		if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod seccomp profile is not RuntimeDefault", cj.Name)
		}
		tmpIsEmptyDir := slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == "tmp" && v.EmptyDir != nil })
		if !tmpIsEmptyDir {
			t.Errorf("%s: no emptyDir volume named tmp", cj.Name)
		}
		for _, c := range podContainers(cj.CronJob) {
			csc := c.SecurityContext
			if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
				csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
				csc.Capabilities == nil || !reflect.DeepEqual(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("%s/%s: container security context is not restricted: %+v", cj.Name, c.Name, csc)
			}
			if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "tmp" && m.MountPath == "/tmp" && !m.ReadOnly }) {
				t.Errorf("%s/%s: /tmp is not mounted writable", cj.Name, c.Name)
			}
		}
	}
}

func TestEveryJobIsForbiddenToOverlapNeverRetriedIgnoresDisruptionsAndIsNotEvictable(t *testing.T) {
	for _, cj := range allCronJobs(t) {
		s := cj.Spec
		if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("%s: concurrencyPolicy %q", cj.Name, s.ConcurrencyPolicy)
		}
		if s.StartingDeadlineSeconds == nil || *s.StartingDeadlineSeconds != int64((8*time.Hour).Seconds()) {
			t.Errorf("%s: startingDeadlineSeconds %v, want 8 h", cj.Name, s.StartingDeadlineSeconds)
		}
		if s.TimeZone == nil || *s.TimeZone != "Etc/UTC" {
			t.Errorf("%s: timeZone %v, want Etc/UTC", cj.Name, s.TimeZone)
		}
		job := s.JobTemplate.Spec
		if job.BackoffLimit == nil || *job.BackoffLimit != 0 {
			t.Errorf("%s: backoffLimit %v, want 0", cj.Name, job.BackoffLimit)
		}
		wantPolicy := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:          batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
		}}}
		if !reflect.DeepEqual(job.PodFailurePolicy, wantPolicy) {
			t.Errorf("%s: podFailurePolicy %+v does not ignore disruptions", cj.Name, job.PodFailurePolicy)
		}
		// A pod failure policy is only accepted with restartPolicy Never.
		if job.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: restartPolicy %q, want Never", cj.Name, job.Template.Spec.RestartPolicy)
		}
		if got := job.Template.Annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"]; got != "false" {
			t.Errorf("%s: safe-to-evict annotation %q, want \"false\"", cj.Name, got)
		}
		for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/managed-by", kube.LabelSync, kube.LabelInstance, kube.LabelEngine, kube.LabelEnvironment} {
			if cj.Labels[l] == "" || job.Template.Labels[l] != cj.Labels[l] {
				t.Errorf("%s: label %s missing on the CronJob or its pod", cj.Name, l)
			}
		}
	}
}

func TestTheJobDeadlineIsItsMaximumRunTimeElseTheSyncsElseTheLongestTierDeadlineOfItsOperations(t *testing.T) {
	e := testEstate(t)
	// chat restores on the slowest tier (24 h deadline) but backs up on
	// the quicker one (12 h).
	findSync(t, e, "chat-postgres").Tier[model.Restore] = "slowest"
	findJob(t, findSync(t, e, "whitehall-mysql"), "integration").MaxRunTime = 3 * time.Hour
	deadline := func(env, name string) time.Duration {
		cj := findCronJob(t, cronJobs(t, e, env), name)
		return time.Duration(*cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds) * time.Second
	}
	for _, c := range []struct {
		name, env, sync string
		want            time.Duration
	}{
		{"a backup-only job on the quicker tier gets its 12 h", "production", "chat-postgres", 12 * time.Hour},
		{"a job with a slowest restore gets the slowest 24 h", "staging", "chat-postgres", 24 * time.Hour},
		{"a maximum run time wins over the tiers", "staging", "whitehall-mysql", 16 * time.Hour},
		{"a job's own maximum run time wins over the sync's", "integration", "whitehall-mysql", 3 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := deadline(c.env, c.sync); got != c.want {
				t.Errorf("activeDeadlineSeconds of %s in %s = %v, want %v", c.sync, c.env, got, c.want)
			}
		})
	}
}

func TestResourcesAreTheSyncsOwnElseTheHeaviestTierDefaults(t *testing.T) {
	e := testEstate(t)
	for i := range e.Tiers {
		if e.Tiers[i].Name == "slowest" {
			e.Tiers[i].Resources = model.Resources{RequestsCPU: "1", RequestsMemory: "1Gi", LimitsCPU: "3", LimitsMemory: "2Gi"}
		}
	}
	findSync(t, e, "chat-postgres").Tier[model.Restore] = "slowest"
	memoryLimit := func(env, name string) string {
		cj := findCronJob(t, cronJobs(t, e, env), name)
		for _, c := range podContainers(cj) {
			if got := c.Resources.Limits[corev1.ResourceMemory]; got.String() != podContainers(cj)[0].Resources.Limits.Memory().String() {
				t.Errorf("%s: containers of one pod have different resources", name)
			}
		}
		return podContainers(cj)[0].Resources.Limits.Memory().String()
	}
	if got := memoryLimit("staging", "chat-postgres"); got != "2Gi" {
		t.Errorf("chat-postgres restores on the slowest tier: memory limit %s, want the slowest tier's 2Gi", got)
	}
	if got := memoryLimit("production", "chat-postgres"); got != "640Mi" {
		t.Errorf("chat-postgres backs up on the quicker tier: memory limit %s, want the quicker tier's 640Mi", got)
	}
	if got := memoryLimit("staging", "whitehall-mysql"); got != "1Gi" {
		t.Errorf("whitehall-mysql declares its resources: memory limit %s, want its own 1Gi", got)
	}
	cj := findCronJob(t, cronJobs(t, e, "staging"), "whitehall-mysql")
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi"), corev1.ResourceEphemeralStorage: resource.MustParse("20Gi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	if got := podContainers(cj)[0].Resources; canonical(t, got) != canonical(t, want) {
		t.Errorf("whitehall-mysql resources = %v, want %v", got, want)
	}
}

func TestSuspendedAndDisabledJobsAreSuspendedAndAnAbsentOneHasNoCronJob(t *testing.T) {
	e := testEstate(t)
	suspended := func(env, name string) bool {
		s := findCronJob(t, cronJobs(t, e, env), name).Spec.Suspend
		if s == nil {
			t.Fatalf("%s in %s: suspend is not set explicitly", name, env)
		}
		return *s
	}
	if suspended("staging", "chat-postgres") {
		t.Error("a present job that is not suspended is suspended")
	}
	if !suspended("integration", "signon-mysql-restore") {
		t.Error("a job declared suspend is not suspended")
	}
	if !suspended("integration", "retired-postgres") {
		t.Error("a job with ensure: disabled is not suspended")
	}
	for _, cj := range cronJobs(t, e, "staging") {
		if cj.Name == "retired-postgres" {
			t.Error("a job with ensure: absent still has a CronJob")
		}
	}
	var got []string
	for _, cj := range cronJobs(t, e, "staging") {
		got = append(got, cj.Name)
	}
	if want := []string{"chat-postgres", "shared-documentdb", "whitehall-mysql"}; !slices.Equal(got, want) {
		t.Errorf("staging CronJobs = %v, want %v (sorted, without the absent one)", got, want)
	}
}

func TestCredentialsComeFromTheSyncsSecretAndNoSecretIsInline(t *testing.T) {
	for _, cj := range allCronJobs(t) {
		s := findSync(t, cj.estate, cj.Labels[kube.LabelSync])
		secret := s.Secret
		// A search cluster reached without credentials gets none.
		noAuth := s.Engine == model.OpenSearch && s.SearchAuth != "basic"
		for _, c := range podContainers(cj.CronJob) {
			// The scratch server and its password's maker have no database
			// credentials of the sync's.
			runs := len(c.Args) > 0 && c.Args[0] == "run"
			for name, key := range map[string]string{"DB_USER": "username", "DB_PASSWORD": "password"} {
				if !runs {
					if _, ok := envOf(c, name); ok {
						t.Errorf("%s/%s: %s given to a container that is no operation", cj.Name, c.Name, name)
					}
					continue
				}
				v, ok := envOf(c, name)
				if noAuth {
					if ok {
						t.Errorf("%s/%s: %s set for a search cluster without credentials", cj.Name, c.Name, name)
					}
					continue
				}
				if !ok {
					t.Errorf("%s/%s: no %s", cj.Name, c.Name, name)
					continue
				}
				ref := v.ValueFrom
				if v.Value != "" || ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != secret || ref.SecretKeyRef.Key != key {
					t.Errorf("%s/%s: %s = %+v, want key %q of Secret %q and no literal value", cj.Name, c.Name, name, v, key, secret)
				}
			}
			for _, v := range c.Env {
				upper := strings.ToUpper(v.Name)
				// A password file's path is no secret: the file is.
				named := strings.Contains(upper, "PASSWORD") || strings.Contains(upper, "SECRET") || strings.Contains(upper, "TOKEN")
				if named && v.Value != "" && !(strings.HasSuffix(upper, "_FILE") && v.Value == kube.ScratchPasswordFile) {
					t.Errorf("%s/%s: %s has a literal value", cj.Name, c.Name, v.Name)
				}
			}
		}
	}
}

func TestExtraEnvCannotOverrideTheRunnerContract(t *testing.T) {
	e := testEstate(t)
	findSync(t, e, "whitehall-mysql").Env = []model.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2"}}
	_, err := kube.CronJobs(e, "staging")
	if err == nil || !strings.Contains(err.Error(), `sync "whitehall-mysql" in environment "staging"`) || !strings.Contains(err.Error(), "DB_PASSWORD") {
		t.Fatalf("err = %v, want an error naming the sync, the environment and DB_PASSWORD", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the value: %v", err)
	}
}

func TestARestoreReadsTheUpstreamBucketAndABackupWritesItsOwn(t *testing.T) {
	e := testEstate(t)
	bucket := func(env, name, container string) string {
		for _, c := range podContainers(findCronJob(t, cronJobs(t, e, env), name)) {
			if c.Name == container {
				v, _ := envOf(c, "BUCKET")
				return v.Value
			}
		}
		t.Fatalf("%s in %s has no container %s", name, env, container)
		return ""
	}
	for _, c := range []struct{ env, sync, container, want string }{
		{"production", "chat-postgres", "2-backup", "s3://test-production-database-backups"},
		{"staging", "chat-postgres", "0-restore", "s3://test-production-database-backups"},
		{"staging", "chat-postgres", "2-backup", "s3://test-staging-database-backups"},
		{"integration", "chat-postgres", "0-restore", "s3://test-staging-database-backups"},
		{"integration", "chat-postgres", "2-backup", "s3://test-integration-database-backups"},
		{"integration", "signon-mysql-restore", "0-restore", "s3://test-integration-database-backups"},
	} {
		if got := bucket(c.env, c.sync, c.container); got != c.want {
			t.Errorf("%s %s %s: BUCKET %s, want %s", c.env, c.sync, c.container, got, c.want)
		}
	}
}

func TestOperationsRunInOrderOneAfterAnother(t *testing.T) {
	e := testEstate(t)
	cj := findCronJob(t, cronJobs(t, e, "staging"), "chat-postgres")
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	// Init containers run one after another; the pod's containers side by
	// side. So all operations but the last are init containers.
	if len(pod.InitContainers) != 1 || pod.InitContainers[0].Name != "0-restore" || len(pod.Containers) != 1 || pod.Containers[0].Name != "2-backup" {
		t.Fatalf("chat-postgres in staging: init %v, containers %v; want init [0-restore], containers [2-backup]", containerNames(pod.InitContainers), containerNames(pod.Containers))
	}
	for _, c := range podContainers(cj) {
		op := strings.SplitN(c.Name, "-", 3)[1]
		if !slices.Equal(c.Command, []string{kube.RunnerCommand}) || !slices.Equal(c.Args, []string{"run", op}) || c.Image != e.Image {
			t.Errorf("%s: command %v args %v image %s, want [%s] [run %s] %s", c.Name, c.Command, c.Args, c.Image, kube.RunnerCommand, op, e.Image)
		}
	}
	backupOnly := findCronJob(t, cronJobs(t, e, "production"), "chat-postgres").Spec.JobTemplate.Spec.Template.Spec
	if len(backupOnly.InitContainers) != 0 || containerNames(backupOnly.Containers)[0] != "2-backup" {
		t.Errorf("a backup-only job: init %v containers %v", containerNames(backupOnly.InitContainers), containerNames(backupOnly.Containers))
	}
}

func containerNames(cs []corev1.Container) []string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return n
}

func TestASyncOverSeveralDatabasesGetsOneContainerPerDatabaseAndOperationInDatabaseOrder(t *testing.T) {
	e := testEstate(t)
	cj := findCronJob(t, cronJobs(t, e, "staging"), "shared-documentdb")
	cs := podContainers(cj)
	want := []string{"0-restore-publisher", "2-backup-publisher", "0-restore-govuk-assets", "1-transform-govuk-assets", "2-backup-govuk-assets"}
	if got := containerNames(cs); !slices.Equal(got, want) {
		t.Fatalf("containers %v, want %v", got, want)
	}
	wantDB := []string{"publisher_production", "publisher_production", "govuk_assets_production", "govuk_assets_production", "govuk_assets_production"}
	for i, c := range cs {
		if v, _ := envOf(c, "DB_DATABASE"); v.Value != wantDB[i] {
			t.Errorf("%s: DB_DATABASE %q, want %q", c.Name, v.Value, wantDB[i])
		}
		script, has := envOf(c, "SANITISE_SCRIPT")
		// The job has its own transform: the script runs there, not in the restore.
		if wantScript := c.Name == "1-transform-govuk-assets"; has != wantScript {
			t.Errorf("%s: SANITISE_SCRIPT set = %v, want %v", c.Name, has, wantScript)
		} else if has && script.Value != kube.ScriptsMountPath+"/asset-manager.js" {
			t.Errorf("%s: SANITISE_SCRIPT %q", c.Name, script.Value)
		}
	}
}

func TestARestoreThatSanitisesRunsTheMountedScriptAndOnlyThere(t *testing.T) {
	e := testEstate(t)
	cj := findCronJob(t, cronJobs(t, e, "integration"), "chat-postgres")
	for _, c := range podContainers(cj) {
		v, has := envOf(c, "SANITISE_SCRIPT")
		if want := c.Name == "0-restore"; has != want {
			t.Errorf("%s: SANITISE_SCRIPT set = %v, want %v", c.Name, has, want)
		}
		if has && v.Value != "/etc/envsync/scripts/chat.sql" {
			t.Errorf("%s: SANITISE_SCRIPT = %q", c.Name, v.Value)
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == "scripts" && m.MountPath == kube.ScriptsMountPath && m.ReadOnly
		}) {
			t.Errorf("%s: scripts are not mounted read-only at %s", c.Name, kube.ScriptsMountPath)
		}
	}
	vols := cj.Spec.JobTemplate.Spec.Template.Spec.Volumes
	if !slices.ContainsFunc(vols, func(v corev1.Volume) bool {
		return v.Name == "scripts" && v.ConfigMap != nil && v.ConfigMap.Name == kube.ScriptsConfigMapName
	}) {
		t.Errorf("no scripts volume from ConfigMap %s", kube.ScriptsConfigMapName)
	}
	plain := findCronJob(t, cronJobs(t, e, "staging"), "chat-postgres")
	for _, v := range plain.Spec.JobTemplate.Spec.Template.Spec.Volumes {
		if v.Name == "scripts" {
			t.Error("a job without sanitise scripts mounts the scripts ConfigMap")
		}
	}
}

func TestTheRunnerEnvironmentFollowsTheContract(t *testing.T) {
	e := testEstate(t)
	cj := findCronJob(t, cronJobs(t, e, "staging"), "whitehall-mysql")
	restore := podContainers(cj)[0]
	var names []string
	literal := map[string]string{}
	for _, v := range restore.Env {
		names = append(names, v.Name)
		literal[v.Name] = v.Value
	}
	want := []string{"DB_ENGINE", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_DATABASE", "DB_OWNER", "DB_SSLMODE", "DB_SSLROOTCERT", "DB_INSTANCE",
		"BUCKET", "ENVIRONMENT", "SANITISE_SCRIPT", "PROMETHEUS_PUSHGATEWAY_URL", "MYSQL_EXTRA"}
	if !slices.Equal(names, want) {
		t.Fatalf("env names %v, want %v", names, want)
	}
	for k, v := range map[string]string{
		"DB_ENGINE": "mysql", "DB_HOST": "whitehall-mysql", "DB_PORT": "3306", "DB_DATABASE": "whitehall_production",
		"DB_OWNER": "whitehall", "DB_INSTANCE": "whitehall-mysql", "ENVIRONMENT": "staging",
		"PROMETHEUS_PUSHGATEWAY_URL": e.Pushgateway, "MYSQL_EXTRA": "1",
	} {
		if literal[k] != v {
			t.Errorf("%s = %q, want %q", k, literal[k], v)
		}
	}
	for _, c := range podContainers(cj) {
		if _, has := envOf(c, "REALLY_RESTORE_ONTO_PRODUCTION"); has {
			t.Errorf("%s: REALLY_RESTORE_ONTO_PRODUCTION without the opt-in", c.Name)
		}
	}
}

func TestEveryContainerGetsItsJobsTLSModeAndTheCABundleIsMountedFromWhereItIsDeclared(t *testing.T) {
	e := testEstate(t)
	for _, c := range []struct {
		env, sync, mode, rootCert string
		volume                    corev1.VolumeSource
	}{
		{"staging", "whitehall-mysql", "verify-full", "/etc/envsync/tls/eu-west-1.pem",
			corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "rds-ca"}}}},
		{"integration", "chat-postgres", "verify-ca", "/etc/envsync/tls/ca.pem",
			corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-ca"}}},
		{"production", "chat-postgres", "prefer", "", corev1.VolumeSource{}},
	} {
		cj := findCronJob(t, cronJobs(t, e, c.env), c.sync)
		spec := cj.Spec.JobTemplate.Spec.Template.Spec
		for _, ctr := range podContainers(cj) {
			if v, _ := envOf(ctr, "DB_SSLMODE"); v.Value != c.mode {
				t.Errorf("%s/%s %s: DB_SSLMODE %q, want %q", c.env, c.sync, ctr.Name, v, c.mode)
			}
			root, has := envOf(ctr, "DB_SSLROOTCERT")
			if root.Value != c.rootCert || has != (c.rootCert != "") {
				t.Errorf("%s/%s %s: DB_SSLROOTCERT %q (set: %v), want %q", c.env, c.sync, ctr.Name, root.Value, has, c.rootCert)
			}
			mounted := slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.Name == "ca" && m.MountPath == "/etc/envsync/tls" && m.ReadOnly
			})
			if mounted != (c.rootCert != "") {
				t.Errorf("%s/%s %s: CA mounted: %v", c.env, c.sync, ctr.Name, mounted)
			}
		}
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == "ca" })
		switch {
		case c.rootCert == "" && i >= 0:
			t.Errorf("%s/%s: a CA volume without a CA declared", c.env, c.sync)
		case c.rootCert != "" && (i < 0 || !reflect.DeepEqual(spec.Volumes[i].VolumeSource, c.volume)):
			t.Errorf("%s/%s: CA volume %+v, want %+v", c.env, c.sync, spec.Volumes, c.volume)
		}
	}
}

func TestOnlyAnOptedInRestoreGetsReallyRestoreOntoProduction(t *testing.T) {
	e := testEstate(t)
	s := findSync(t, e, "chat-postgres")
	j := findJob(t, s, "production")
	j.Operations = []model.Operation{model.Restore, model.Backup}
	j.RestoreFrom = "staging"
	j.AllowProductionRestore = true
	for _, c := range podContainers(findCronJob(t, cronJobs(t, e, "production"), "chat-postgres")) {
		v, has := envOf(c, "REALLY_RESTORE_ONTO_PRODUCTION")
		if want := c.Name == "0-restore"; has != want || (has && v.Value != "true") {
			t.Errorf("%s: REALLY_RESTORE_ONTO_PRODUCTION = %q (set %v), want set only on the restore", c.Name, v.Value, has)
		}
	}
}

func TestWhatKubernetesOrTheRunnerWouldRefuseIsAnErrorNamingSyncAndEnvironment(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*model.Estate)
		env    string
		sync   string
		want   string
	}{
		{"a CronJob name of 53 characters", func(e *model.Estate) {
			e.Syncs[1].Name = strings.Repeat("a", 53)
		}, "staging", strings.Repeat("a", 53), "longer than 52"},
		{"a CronJob name of 52 characters is fine", func(e *model.Estate) {
			e.Syncs[1].Name = strings.Repeat("a", 52)
		}, "staging", "", ""},
		{"a CronJob name with an underscore", func(e *model.Estate) {
			e.Syncs[1].Name = "chat_postgres"
		}, "staging", "chat_postgres", "RFC 1123"},
		{"a database name giving a container name over 63 characters", func(e *model.Estate) {
			s := &e.Syncs[3] // shared-documentdb
			s.Databases[0] = strings.Repeat("d", 60) + "_production"
		}, "staging", "shared-documentdb", "container name"},
		{"an instance that is not a label value", func(e *model.Estate) {
			e.Syncs[1].Instance = "chat postgres"
		}, "production", "chat-postgres", "label value"},
		{"two databases with one short name", func(e *model.Estate) {
			e.Syncs[3].Databases = []string{"publisher_production", "publisher"}
		}, "production", "shared-documentdb", `two containers would be named "2-backup-publisher"`},
		{"a tier that is not declared", func(e *model.Estate) {
			e.Syncs[1].Tier[model.Backup] = "glacial"
		}, "production", "chat-postgres", `unknown tier "glacial"`},
		{"a transform with no sanitise script", func(e *model.Estate) {
			j := &e.Syncs[1].Jobs[1] // chat-postgres in staging
			j.Operations = []model.Operation{model.Restore, model.Transform, model.Backup}
		}, "staging", "chat-postgres", "no sanitise script"},
		{"a quantity that does not parse", func(e *model.Estate) {
			e.Syncs[5].Resources.LimitsMemory = "lots"
		}, "staging", "whitehall-mysql", `limits.memory "lots"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := testEstate(t)
			c.mutate(e)
			_, err := kube.CronJobs(e, c.env)
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range []string{`sync "` + c.sync + `"`, `environment "` + c.env + `"`, c.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestTheScriptsConfigMapHoldsExactlyTheScriptsUsedInTheEnvironment(t *testing.T) {
	e := testEstate(t)
	for _, c := range []struct {
		env  string
		want []string
	}{
		{"production", nil},
		{"staging", []string{"asset-manager.js", "whitehall.sql"}},
		{"integration", []string{"chat.sql", "whitehall.sql"}},
	} {
		cm, err := kube.ScriptsConfigMap(e, c.env)
		if err != nil {
			t.Fatal(err)
		}
		if c.want == nil {
			if cm != nil {
				t.Errorf("%s uses no script but has a ConfigMap: %v", c.env, cm.Data)
			}
			continue
		}
		if cm == nil {
			t.Fatalf("%s: no ConfigMap", c.env)
		}
		var keys []string
		for k, v := range cm.Data {
			keys = append(keys, k)
			b, err := os.ReadFile(filepath.Join(e.Root, "syncs", "sanitise", k))
			if err != nil || string(b) != v {
				t.Errorf("%s: key %s does not hold the file's content", c.env, k)
			}
		}
		slices.Sort(keys)
		if !slices.Equal(keys, c.want) {
			t.Errorf("%s: keys %v, want %v", c.env, keys, c.want)
		}
		if cm.Name != kube.ScriptsConfigMapName || cm.Namespace != "db-sync" {
			t.Errorf("%s: ConfigMap %s/%s", c.env, cm.Namespace, cm.Name)
		}
	}
}

func TestScriptErrorsNameSyncEnvironmentAndFile(t *testing.T) {
	t.Run("a missing script", func(t *testing.T) {
		e := testEstate(t)
		findJob(t, findSync(t, e, "chat-postgres"), "integration").Sanitise["govuk_chat_production"] = "syncs/sanitise/nope.sql"
		_, err := kube.ScriptsConfigMap(e, "integration")
		if err == nil || !strings.Contains(err.Error(), `sync "chat-postgres" in environment "integration"`) || !strings.Contains(err.Error(), "nope.sql") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("two scripts with one file name", func(t *testing.T) {
		e := testEstate(t)
		findJob(t, findSync(t, e, "whitehall-mysql"), "integration").Sanitise["whitehall_production"] = "syncs/other/chat.sql"
		_, err := kube.Values(e, "integration")
		if err == nil || !strings.Contains(err.Error(), `environment "integration"`) || !strings.Contains(err.Error(), `share the file name "chat.sql"`) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestOutputIsDeterministicWhateverTheDeclarationOrder(t *testing.T) {
	e := testEstate(t)
	render := func() string {
		var b strings.Builder
		for _, env := range e.Environments {
			v, err := kube.Values(e, env.Name)
			if err != nil {
				t.Fatal(err)
			}
			cm, err := kube.ScriptsConfigMap(e, env.Name)
			if err != nil {
				t.Fatal(err)
			}
			for _, obj := range []any{v, cronJobs(t, e, env.Name), cm} {
				y, err := yaml.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				b.Write(y)
			}
		}
		return b.String()
	}
	first := render()
	slices.Reverse(e.Syncs)
	if second := render(); second != first {
		t.Errorf("reversing the syncs changed the output:\n%s", lineDiff(first, second))
	}
}

func TestTmpIsBoundedByItsSizeLimitAndRequestedAsEphemeralStorage(t *testing.T) {
	for _, c := range []struct {
		name, env, sync, want string
		e                     *model.Estate
	}{
		{"a sync's own resources", "staging", "whitehall-mysql", "20Gi", testEstate(t)},
		{"the tier's default in the example estate", "staging", "chat-postgres", "2Gi", exampleEstate(t)},
	} {
		cj := findCronJob(t, cronJobs(t, c.e, c.env), c.sync)
		spec := cj.Spec.JobTemplate.Spec.Template.Spec
		want := resource.MustParse(c.want)
		for _, v := range spec.Volumes {
			if v.Name == "tmp" && (v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.Cmp(want) != 0) {
				t.Errorf("%s: /tmp emptyDir %+v, want sizeLimit %s", c.name, v.EmptyDir, c.want)
			}
		}
		for _, ctr := range podContainers(cj) {
			if got := ctr.Resources.Requests[corev1.ResourceEphemeralStorage]; got.Cmp(want) != 0 {
				t.Errorf("%s: %s requests ephemeral-storage %s, want %s", c.name, ctr.Name, got.String(), c.want)
			}
		}
	}
}

func TestJobsRunAsTheirEnvironmentsServiceAccountWhichEnvsyncCreatesUnlessTheClusterOwnsIt(t *testing.T) {
	e := testEstate(t)
	for _, c := range []struct {
		env, account string
		created      bool
	}{
		{"production", "", false}, // none declared: the namespace's default
		{"staging", "envsync", true},
		{"integration", "db-backup", false},
	} {
		for _, cj := range cronJobs(t, e, c.env) {
			spec := cj.Spec.JobTemplate.Spec.Template.Spec
			if spec.ServiceAccountName != c.account {
				t.Errorf("%s in %s: serviceAccountName %q, want %q", cj.Name, c.env, spec.ServiceAccountName, c.account)
			}
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Errorf("%s in %s: the API token is mounted", cj.Name, c.env)
			}
		}
		sa, err := kube.ServiceAccountObject(e, c.env)
		if err != nil {
			t.Fatal(err)
		}
		if (sa != nil) != c.created {
			t.Fatalf("%s: ServiceAccount %+v, want one created: %v", c.env, sa, c.created)
		}
		if sa != nil && (sa.Name != c.account || sa.Namespace != "db-sync" ||
			sa.Annotations["eks.amazonaws.com/role-arn"] != "arn:aws:iam::123456789012:role/envsync-staging" || sa.Labels[kube.LabelEnvironment] != c.env) {
			t.Errorf("%s: ServiceAccount %+v", c.env, sa.ObjectMeta)
		}
	}
}

func TestAPausedEnvironmentSuspendsEveryJobAndPodsGetItsAnnotationsComponentAndNoServiceLinks(t *testing.T) {
	e := testEstate(t)
	for i := range e.Environments {
		if e.Environments[i].Name == "staging" {
			e.Environments[i].PodAnnotations = map[string]string{"argocd.argoproj.io/sync-options": "Prune=false"}
		}
	}
	for _, cj := range cronJobs(t, e, "staging") {
		pod := cj.Spec.JobTemplate.Spec.Template
		if pod.Annotations["argocd.argoproj.io/sync-options"] != "Prune=false" || pod.Annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] != "false" {
			t.Errorf("%s: pod annotations %v", cj.Name, pod.Annotations)
		}
		if cj.Labels["app.kubernetes.io/component"] != cj.Name || pod.Labels["app.kubernetes.io/component"] != cj.Name {
			t.Errorf("%s: component label %q", cj.Name, cj.Labels["app.kubernetes.io/component"])
		}
		if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
			t.Errorf("%s: service links enabled", cj.Name)
		}
	}
}

func TestAJobNamePrefixNamesTheCronJobsAndLabelsKeepTheSync(t *testing.T) {
	e := testEstate(t)
	for _, env := range []string{"production", "integration"} {
		prefix := map[string]string{"production": "", "integration": "db-backup-"}[env]
		for _, cj := range cronJobs(t, e, env) {
			sync := cj.Labels[kube.LabelSync]
			if cj.Name != prefix+sync {
				t.Errorf("%s: CronJob %q, want %q", env, cj.Name, prefix+sync)
			}
			pod := cj.Spec.JobTemplate.Spec.Template
			for where, l := range map[string]map[string]string{"CronJob": cj.Labels, "Job": cj.Spec.JobTemplate.Labels, "pod": pod.Labels} {
				if l["app.kubernetes.io/component"] != sync || l[kube.LabelSync] != sync || findSync(t, e, sync) == nil {
					t.Errorf("%s %s: %s labels %v, want component and sync %q", env, cj.Name, where, l, sync)
				}
			}
		}
	}
	// Kubernetes' limit counts the prefix.
	for i := range e.Environments {
		e.Environments[i].JobNamePrefix = "a-long-prefix-of-the-old-charts-release-"
	}
	if _, err := kube.CronJobs(e, "staging"); err == nil || !strings.Contains(err.Error(), `CronJob name "a-long-prefix-of-the-old-charts-release-`) {
		t.Fatalf("a prefixed name over 52 characters: %v", err)
	}
}

func TestPodsGetTheirEnvironmentsDNSConfig(t *testing.T) {
	e := testEstate(t)
	for _, cj := range cronJobs(t, e, "staging") {
		got := cj.Spec.JobTemplate.Spec.Template.Spec.DNSConfig
		want := &corev1.PodDNSConfig{
			Searches: []string{"db.staging.internal"},
			Options:  []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "single-request-reopen"}},
		}
		if canonical(t, got) != canonical(t, want) {
			t.Errorf("%s: dnsConfig\n%s\nwant\n%s", cj.Name, canonical(t, got), canonical(t, want))
		}
	}
	for _, cj := range cronJobs(t, e, "production") {
		if d := cj.Spec.JobTemplate.Spec.Template.Spec.DNSConfig; d != nil {
			t.Errorf("%s in production, which declares none: dnsConfig %+v", cj.Name, d)
		}
	}
}

func TestEverySecretTheJobsReadHasOneExternalSecretFillingItFromTheStore(t *testing.T) {
	e := testEstate(t)
	got, err := kube.ExternalSecretObjects(e, "staging")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // Secret -> remote key, from the CronJobs
	for _, cj := range cronJobs(t, e, "staging") {
		s := findSync(t, e, cj.Labels[kube.LabelSync])
		want[s.Secret] = "staging/envsync/" + s.Instance
	}
	if len(got) != len(want) || len(got) < 2 {
		t.Fatalf("%d ExternalSecrets for the %d Secrets %v", len(got), len(want), want)
	}
	for _, es := range got {
		key, ok := want[es.Name]
		sp := es.Spec
		if !ok || es.Namespace != "db-sync" || sp.Target.Name != es.Name || sp.Target.CreationPolicy != "Owner" ||
			sp.SecretStoreRef != (kube.StoreRef{Name: "aws-secrets-manager", Kind: "ClusterSecretStore"}) || sp.RefreshInterval != "1h0m0s" ||
			len(sp.Data) != 2 || sp.Data[0] != (kube.ExternalSecretData{SecretKey: "username", RemoteRef: kube.RemoteRef{Key: key, Property: "username"}}) ||
			sp.Data[1] != (kube.ExternalSecretData{SecretKey: "password", RemoteRef: kube.RemoteRef{Key: key, Property: "password"}}) {
			t.Errorf("ExternalSecret %s:\n%s", es.Name, canonical(t, es))
		}
	}
	if none, err := kube.ExternalSecretObjects(e, "production"); err != nil || len(none) != 0 {
		t.Errorf("production declares no store but got %d ExternalSecrets (%v)", len(none), err)
	}

	// Two syncs sharing a Secret must not be given two remote keys.
	for i := range e.Syncs {
		e.Syncs[i].Secret = "shared-credentials"
	}
	if _, err := kube.ExternalSecretObjects(e, "staging"); err == nil || !strings.Contains(err.Error(), `share the Secret "shared-credentials"`) {
		t.Fatalf("one Secret, two remote keys: %v", err)
	}
}

func TestASearchJobReadsTheUpstreamRepositoryWritesItsOwnAndGetsCredentialsOnlyWithBasicAuth(t *testing.T) {
	e := withSearch(testEstate(t))
	cjs := cronJobs(t, e, "staging")
	for sync, auth := range map[string]bool{"search-opensearch": false, "logs-opensearch": true} {
		cj := findCronJob(t, cjs, sync)
		for _, c := range podContainers(cj) {
			env := map[string]string{}
			for _, v := range c.Env {
				env[v.Name] = v.Value
				if v.ValueFrom != nil {
					env[v.Name] = "from " + v.ValueFrom.SecretKeyRef.Name
				}
			}
			repo := map[string]string{"0-restore": sync + "-production", "2-backup": sync + "-staging"}[c.Name]
			if env["SNAPSHOT_REPOSITORY"] != repo || env["SNAPSHOTS_KEEP"] != "2" || env["DB_HOST"] != "https://"+sync+".staging.internal" || env["DB_DATABASE"] != "*" {
				t.Errorf("%s/%s: %v", sync, c.Name, env)
			}
			for _, k := range []string{"BUCKET", "DB_OWNER", "DB_PORT", "DB_SSLMODE"} {
				if _, ok := env[k]; ok {
					t.Errorf("%s/%s: %s set for a search job", sync, c.Name, k)
				}
			}
			if got := env["DB_USER"] == "from envsync-"+sync && env["DB_PASSWORD"] == "from envsync-"+sync; got != auth {
				t.Errorf("%s/%s: credentials from the Secret %v, want %v", sync, c.Name, got, auth)
			}
		}
	}
}
