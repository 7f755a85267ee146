package kube_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/declare"
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

func TestTheFiveMongoDatabasesOfTheExampleEstateRunInDeclaredOrderAndOnlyTheAssetsRestoreSanitises(t *testing.T) {
	e := exampleEstate(t)
	cj := findCronJob(t, cronJobs(t, e, "staging"), "shared-documentdb")
	want := []string{
		"0-restore-publisher", "2-backup-publisher",
		"0-restore-short-url-manager", "2-backup-short-url-manager",
		"0-restore-travel-advice-publisher", "2-backup-travel-advice-publisher",
		"0-restore-govuk-content", "2-backup-govuk-content",
		"0-restore-govuk-assets", "2-backup-govuk-assets",
	}
	cs := podContainers(cj)
	if got := containerNames(cs); !slices.Equal(got, want) {
		t.Fatalf("containers %v, want %v", got, want)
	}
	for _, c := range cs {
		_, has := envOf(c, "SANITISE_SCRIPT")
		if has != (c.Name == "0-restore-govuk-assets") {
			t.Errorf("%s: SANITISE_SCRIPT set = %v", c.Name, has)
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
