package runner_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/envsync/envsync/testenv"
	"github.com/envsync/envsync/testenv/standin"
)

// Search syncs run against the stand-in of OpenSearch's snapshot API
// (standin.SearchCluster): no real server can be installed here.

func searchEnv(pgw *testenv.Pushgateway, endpoint, repo, env string, extra ...string) []string {
	return append([]string{
		"DB_ENGINE=opensearch",
		"DB_HOST=" + endpoint,
		"DB_DATABASE=*",
		"DB_INSTANCE=search-opensearch",
		"SNAPSHOT_REPOSITORY=" + repo,
		"SNAPSHOTS_KEEP=1",
		"ENVIRONMENT=" + env,
		"HOSTNAME=search-opensearch-29012345-abcde",
		"PROMETHEUS_PUSHGATEWAY_URL=" + pgw.URL,
	}, extra...)
}

func TestASearchSyncBacksUpAndRestoresThroughSnapshotsAndReportsLikeADatabase(t *testing.T) {
	bin := envsyncBinary(t)
	pgw := testenv.StartPushgateway(t)
	prodRepo := standin.NewSnapshotRepository("govuk-production")
	prod := standin.StartSearchCluster(t, []*standin.SnapshotRepository{prodRepo})
	staging := standin.StartSearchCluster(t, []*standin.SnapshotRepository{standin.NewSnapshotRepository("govuk-staging"), prodRepo}, "govuk-production")
	prod.Seed("govuk", 500)
	prod.SnapshotTime = 300 * time.Millisecond
	staging.Seed("govuk", 20)
	staging.RecoveryTime = 200 * time.Millisecond
	labels := func(op string) map[string]string {
		return map[string]string{"database_engine": "opensearch", "database_instance": "search-opensearch", "database_db_name": "*", "operation": op}
	}
	run := func(op string, env []string) string {
		t.Helper()
		cmd := exec.Command(bin, "run", op)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("envsync run %s: %v\n%s", op, err, out)
		}
		return string(out)
	}

	before := time.Now()
	run("backup", searchEnv(pgw, prod.URL, "govuk-production", "production"))
	if s := pgw.Series(t, "db_backup_job_state", labels("backup")); len(s) != 1 || s[0].Value != 2 {
		t.Fatalf("backup state %+v", s)
	}
	if s := pgw.Series(t, "db_backup_job_file_size_bytes", labels("backup")); len(s) != 1 || s[0].Value <= 0 {
		t.Errorf("backup size %+v: want the snapshot's size", s)
	}

	run("restore", searchEnv(pgw, staging.URL, "govuk-production", "staging"))
	if s := pgw.Series(t, "db_backup_job_state", labels("restore")); len(s) != 1 || s[0].Value != 2 {
		t.Fatalf("restore state %+v", s)
	}
	if s := pgw.Series(t, "db_backup_restored_dump_timestamp_seconds", labels("restore")); len(s) != 1 || s[0].Value < float64(before.Unix()-1) || s[0].Value > float64(time.Now().Unix()) {
		t.Errorf("restored snapshot time %+v, want the snapshot's start", s)
	}
	if got := staging.Indices(); len(got) != 1 || !strings.Contains(got[0], "docs=500 aliases=govuk") {
		t.Errorf("staging holds %v", got)
	}
	prod.AssertOnlyImplementedCalls(t)
	staging.AssertOnlyImplementedCalls(t)
}

func TestAFailedSnapshotAndAnImpossibleOperationAreReportedAsFailed(t *testing.T) {
	bin := envsyncBinary(t)
	pgw := testenv.StartPushgateway(t)
	repo := standin.NewSnapshotRepository("govuk-production")
	prod := standin.StartSearchCluster(t, []*standin.SnapshotRepository{repo})
	prod.Seed("govuk", 5)
	prod.NextFinalState = "PARTIAL"
	for _, c := range []struct {
		op, instance, says string
		extra              []string
	}{
		{"backup", "partial-case", "ended PARTIAL", nil},
		{"transform", "transform-case", "has no transform", []string{"ENVIRONMENT=staging"}},
		{"restore", "script-case", "has no sanitise script", []string{"SANITISE_SCRIPT=/etc/envsync/scripts/x.sql", "ENVIRONMENT=staging"}},
		{"backup", "repository-case", "SNAPSHOT_REPOSITORY is not set", []string{"SNAPSHOT_REPOSITORY="}},
	} {
		cmd := exec.Command(bin, "run", c.op)
		cmd.Env = append(searchEnv(pgw, prod.URL, "govuk-production", "production", "DB_INSTANCE="+c.instance), c.extra...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.says) {
			t.Errorf("%s (%s): %v, the output does not say %q:\n%s", c.op, c.instance, err, c.says, out)
		}
		s := pgw.Series(t, "db_backup_job_state", map[string]string{"database_engine": "opensearch", "database_instance": c.instance, "operation": c.op})
		if len(s) != 1 || s[0].Value != 0 {
			t.Errorf("%s (%s): state %+v, want one series at 0", c.op, c.instance, s)
		}
	}
}

// SEARCH_AUTH=aws signs every request with AWS Signature Version 4 and the
// pod's credentials (here the SDK's environment variables, in a pod its
// web identity): Amazon OpenSearch Service's stand-in accepts a backup so
// signed and refuses, 403, one signed by other credentials or not at all;
// each refusal is a failed operation.
func TestASearchSyncSignsItsRequestsWithTheAWSCredentialsOfThePod(t *testing.T) {
	bin := envsyncBinary(t)
	pgw := testenv.StartPushgateway(t)
	cluster := standin.StartSearchCluster(t, []*standin.SnapshotRepository{standin.NewSnapshotRepository("govuk-production")})
	cluster.Seed("govuk", 10)
	cluster.RequireSigV4(aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "the-role-s-secret"}, "eu-west-2")
	creds := func(secret string) []string {
		return []string{"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_REGION=eu-west-2",
			"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "HOME=" + t.TempDir()}
	}
	run := func(env ...string) (string, error) {
		cmd := exec.Command(bin, "run", "backup")
		cmd.Env = searchEnv(pgw, cluster.URL, "govuk-production", "production", env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(append(creds("the-role-s-secret"), "SEARCH_AUTH=aws")...); err != nil {
		t.Fatalf("a signed backup: %v\n%s", err, out)
	}
	for name, env := range map[string][]string{
		"signed by other credentials": append(creds("another-secret"), "SEARCH_AUTH=aws"),
		"not signed":                  creds("the-role-s-secret"),
	} {
		out, err := run(env...)
		if err == nil || !strings.Contains(out, "403") {
			t.Errorf("a backup %s: %v, want refused 403:\n%s", name, err, out)
		}
		if strings.Contains(out, "the-role-s-secret") || strings.Contains(out, "another-secret") {
			t.Errorf("a secret key is in the output of a backup %s", name)
		}
		state := pgw.Series(t, "db_backup_job_state", map[string]string{"database_engine": "opensearch", "operation": "backup"})
		if len(state) != 1 || state[0].Value != 0 {
			t.Errorf("a backup %s pushed state %+v, want 0", name, state)
		}
	}
	cluster.AssertOnlyImplementedCalls(t)
}
