package kube_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/gen/kube"
	"github.com/envsync/envsync/model"
)

// exampleEstate loads the real example estate in syncs/.
func exampleEstate(t testing.TB) *model.Estate {
	t.Helper()
	e, err := declare.Load(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("loading the example estate: %v", err)
	}
	return e
}

func TestTheChartRendersExactlyTheGoObjectsForTheExampleEstate(t *testing.T) {
	assertChartMatchesGo(t, exampleEstate(t))
}

func TestTheFourMongoDatabasesOfTheExampleEstateRunInDeclaredOrderUnsanitised(t *testing.T) {
	e := exampleEstate(t)
	cj := findCronJob(t, cronJobs(t, e, "staging"), "shared-documentdb")
	want := []string{
		"0-restore-publisher", "2-backup-publisher",
		"0-restore-short-url-manager", "2-backup-short-url-manager",
		"0-restore-travel-advice-publisher", "2-backup-travel-advice-publisher",
		"0-restore-govuk-content", "2-backup-govuk-content",
	}
	cs := podContainers(cj)
	if got := containerNames(cs); !slices.Equal(got, want) {
		t.Fatalf("containers %v, want %v", got, want)
	}
	for _, c := range cs {
		if _, has := envOf(c, "SANITISE_SCRIPT"); has {
			t.Errorf("%s: SANITISE_SCRIPT set in staging, which restores sanitised dumps", c.Name)
		}
		bucket, _ := envOf(c, "BUCKET")
		wantBucket := "s3://govuk-staging-database-backups"
		if strings.HasPrefix(c.Name, "0-restore") {
			wantBucket = "s3://govuk-production-database-backups"
		}
		if bucket.Value != wantBucket {
			t.Errorf("%s: BUCKET %s, want %s", c.Name, bucket.Value, wantBucket)
		}
	}
}

// In the example's production, a sync with personal data publishes: its
// scratch server runs beside the runner as a native sidecar, from a
// password made for the pod; the published dump goes to production's
// bucket, the raw one to the raw bucket. A raw backup (account-api, never
// copied downstream) goes to the raw bucket only.
func TestTheExampleProductionPublishesSanitisedDumpsThroughAScratchSidecar(t *testing.T) {
	e := exampleEstate(t)
	jobs := cronJobs(t, e, "production")
	cj := findCronJob(t, jobs, "asset-manager-documentdb")
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	if got := containerNames(podContainers(cj)); !slices.Equal(got, []string{"scratch-password", "scratch", "3-publish"}) {
		t.Fatalf("containers %v", got)
	}
	sidecar := pod.InitContainers[1]
	if sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways || !strings.Contains(sidecar.Image, "mongo") {
		t.Errorf("the scratch server is not a native sidecar of a Mongo image: %+v", sidecar)
	}
	if p, _ := envOf(sidecar, "MONGO_INITDB_ROOT_PASSWORD_FILE"); p.Value != kube.ScratchPasswordFile {
		t.Errorf("the scratch server reads its password from %q", p.Value)
	}
	if maker := pod.InitContainers[0]; !slices.Equal(maker.Args, []string{"scratch-password", kube.ScratchPasswordFile}) {
		t.Errorf("scratch-password runs %v", maker.Args)
	}
	memory := slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool {
		return v.Name == "scratch-secret" && v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory
	})
	if !memory {
		t.Error("the scratch password's volume is not memory-backed")
	}
	publish := pod.Containers[0]
	for name, want := range map[string]string{
		"BUCKET": "s3://govuk-production-database-backups", "RAW_BUCKET": "s3://govuk-production-database-backups-raw",
		"SANITISE_SCRIPT": "/etc/envsync/scripts/asset-manager.js", "SCRATCH_USER": "envsync", "SCRATCH_PASSWORD_FILE": kube.ScratchPasswordFile,
	} {
		if v, _ := envOf(publish, name); v.Value != want {
			t.Errorf("3-publish: %s = %q, want %q", name, v.Value, want)
		}
	}
	raw := podContainers(findCronJob(t, jobs, "account-api-postgres"))
	if b, _ := envOf(raw[len(raw)-1], "BUCKET"); b.Value != "s3://govuk-production-database-backups-raw" {
		t.Errorf("account-api's raw backup goes to %s, want the raw bucket", b.Value)
	}
}

func TestTheExampleIntegrationRestoreOfSignonIsSuspendedAndReadsIntegrationsOwnBackup(t *testing.T) {
	e := exampleEstate(t)
	cj := findCronJob(t, cronJobs(t, e, "integration"), "signon-mysql-restore")
	if cj.Spec.Suspend == nil || !*cj.Spec.Suspend {
		t.Error("signon-mysql-restore is not suspended")
	}
	cs := podContainers(cj)
	if got := containerNames(cs); !slices.Equal(got, []string{"0-restore"}) {
		t.Fatalf("containers %v, want [0-restore]", got)
	}
	if b, _ := envOf(cs[0], "BUCKET"); b.Value != "s3://govuk-integration-database-backups" {
		t.Errorf("BUCKET %s, want integration's own bucket", b.Value)
	}
}

// The example's integration, which laptops replicate, stores its dumps in
// the gzip format; staging keeps envsync's own.
func TestTheExampleIntegrationBacksUpInTheFormatLaptopsRead(t *testing.T) {
	e := exampleEstate(t)
	for env, want := range map[string]string{"integration": "gzip", "staging": ""} {
		cs := podContainers(findCronJob(t, cronJobs(t, e, env), "chat-postgres"))
		for _, c := range cs {
			v, _ := envOf(c, "ENVSYNC_DUMP_FORMAT")
			if c.Name == "2-backup" && v.Value != want || c.Name != "2-backup" && v.Value != "" {
				t.Errorf("%s %s: ENVSYNC_DUMP_FORMAT %q", env, c.Name, v.Value)
			}
		}
	}
}
