package e2e

import (
	"github.com/envsync/envsync/testenv/stack"
	"strings"
	"testing"
	"time"
)

// TestTheSanitisedFlowPublishesNoPersonalDataAndRawDataReachesNoLowerEnvironment
// runs the generated jobs of an estate in the sanitised flow with envsync
// local, a local server standing in for the scratch sidecar: production
// publishes people-postgres sanitised (the gate proving the script's work)
// and keeps the raw dump in its raw bucket; staging and integration restore
// what was published. No published or lower bucket and no lower database
// holds any of the seed's personal strings; the raw bucket holds them all;
// production's database is unchanged; after the night no alert is active.
func TestTheSanitisedFlowPublishesNoPersonalDataAndRawDataReachesNoLowerEnvironment(t *testing.T) {
	bin := stack.BuildEnvsync(t)
	out := compileEstate(t, bin, "testdata/published")
	st := stack.Start(t, stack.Options{Binary: bin, Out: out, Envs: []string{"production", "staging", "integration"}})
	prod, staging, integration := st.Env("production"), st.Env("staging"), st.Env("integration")
	if prod.ScratchPostgres == nil {
		t.Fatal("production publishes nothing: the test proves nothing")
	}
	ps := people(150)
	// seedPostgres makes orders_production and ledger_production too, which
	// no job here copies.
	prod.Postgres.Exec(t, "postgres", "CREATE ROLE orders; CREATE ROLE ledger")
	seedPostgres(t, prod.Postgres, ps)
	before := prod.Postgres.Snapshot(t, "people_production")

	for _, env := range []string{"production", "staging", "integration"} {
		if r := st.Local(env); r.Err != nil {
			t.Fatalf("envsync local %s: %v\n%s", env, r.Err, r.Output)
		} else if env == "production" && !strings.Contains(r.Output, `"op":"publish"`) {
			t.Fatalf("production did not publish:\n%s", r.Output)
		}
	}

	if ok, diff := before.Equal(prod.Postgres.Snapshot(t, "people_production")); !ok {
		t.Errorf("production's database changed: %s", diff)
	}
	if found := personalDataInDumps(t, st.S3, "e2e-production-raw-backups", ps); len(found) == 0 {
		t.Fatal("the raw bucket holds no personal data: the searches below prove nothing")
	}
	for _, bucket := range []string{"e2e-production-database-backups", "e2e-staging-database-backups", "e2e-integration-database-backups"} {
		if found := personalDataInDumps(t, st.S3, bucket, ps); len(found) > 0 {
			t.Errorf("personal data in s3://%s: %s", bucket, strings.Join(found, "; "))
		}
	}
	for _, e := range []*stack.Env{staging, integration} {
		if found := personalDataIn(t, e, ps); len(found) > 0 {
			t.Errorf("personal data in %s's databases: %s", e.Name, strings.Join(found, "; "))
		}
	}
	if ok, diff := prod.ScratchPostgres.Snapshot(t, "people_production").Equal(staging.Postgres.Snapshot(t, "people_production")); !ok {
		t.Errorf("staging is not the sanitised scratch copy: %s", diff)
	}
	since := time.Now()
	for _, e := range st.Envs {
		if got := describe(settledAlerts(t, e, since)); len(got) > 0 {
			t.Errorf("%s: active alerts after a successful night:\n%s", e.Name, strings.Join(got, "\n"))
		}
	}
}
