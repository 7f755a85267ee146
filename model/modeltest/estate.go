// Package modeltest builds a small estate in Go, with one of each odd case,
// for the generators' tests. The example estate in syncs/ is tested too; this
// one is small enough to reason about in a test.
package modeltest

import (
	"time"

	"github.com/envsync/envsync/model"
)

var (
	everyDay = []time.Weekday{0, 1, 2, 3, 4, 5, 6}
	weekdays = []time.Weekday{1, 2, 3, 4, 5}
)

// Estate returns a fresh estate: production backs up daily, staging restores
// from production on weekdays, integration (sanitised) restores from staging
// on Mondays. Staging's jobs run as a ServiceAccount envsync creates (with
// an IRSA role), with DNS settings and Secrets filled by ExternalSecrets;
// integration's run as one the cluster owns, their CronJobs named
// "db-backup-<sync>". Its syncs:
//   - chat-postgres: everywhere, sanitised in integration, where TLS is
//     verified against a CA bundle from a Secret;
//   - whitehall-mysql: staging sanitise script, slower backup tier, TLS
//     verified in staging against a CA bundle from a ConfigMap;
//   - account-api-postgres: production backup, integration backup only;
//   - shared-documentdb: mongo, two databases, a JavaScript transform in staging;
//   - signon-mysql-restore: a suspended restore in integration from its own bucket;
//   - retired-postgres: ensure absent in staging, disabled in integration.
func Estate() *model.Estate {
	quicker := model.Resources{RequestsCPU: "400m", RequestsMemory: "384Mi", LimitsCPU: "2", LimitsMemory: "640Mi"}
	return &model.Estate{
		Root:        "/nonexistent",
		Image:       "ghcr.io/envsync/runner:test",
		Pushgateway: "http://prometheus-pushgateway.monitoring.svc:9091",
		Environments: []model.Environment{
			{Name: "production", Bucket: "s3://test-production-database-backups", Namespace: "db-sync", Class: "daily"},
			{Name: "staging", Bucket: "s3://test-staging-database-backups", Namespace: "db-sync", Class: "weekdays", RestoreFrom: "production", TransformLimit: 45 * time.Minute,
				ServiceAccount: &model.ServiceAccount{Name: "envsync", Create: true, Annotations: map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/envsync-staging"}},
				DNS:            &model.DNS{Searches: []string{"db.staging.internal"}, Options: map[string]string{"ndots": "2", "single-request-reopen": ""}},
				ExternalSecrets: &model.ExternalSecrets{StoreName: "aws-secrets-manager", StoreKind: "ClusterSecretStore", RemoteKey: "staging/envsync/{instance}",
					UsernameProperty: "username", PasswordProperty: "password", RefreshInterval: time.Hour}},
			{Name: "integration", Bucket: "s3://test-integration-database-backups", Namespace: "db-sync", Class: "weekly-monday", RestoreFrom: "staging", TransformLimit: 30 * time.Minute, Sanitise: true,
				ServiceAccount: &model.ServiceAccount{Name: "db-backup"}, JobNamePrefix: "db-backup-"},
		},
		Classes: []model.Class{
			{Name: "daily", Days: everyDay, ArmedDays: everyDay, Window: 25 * time.Hour},
			{Name: "weekdays", Days: weekdays, ArmedDays: []time.Weekday{2, 3, 4, 5}, Window: 25 * time.Hour},
			{Name: "weekly-monday", Days: []time.Weekday{1}, ArmedDays: everyDay, Window: 7*24*time.Hour + 12*time.Hour},
		},
		Tiers: []model.Tier{
			{Name: "quicker", LongRunning: map[model.Operation]time.Duration{model.Backup: time.Hour, model.Restore: time.Hour}, Deadline: 12 * time.Hour, Resources: quicker},
			{Name: "slower", LongRunning: map[model.Operation]time.Duration{model.Backup: 4 * time.Hour, model.Restore: 4 * time.Hour}, Deadline: 12 * time.Hour, Resources: quicker},
			{Name: "slowest", LongRunning: map[model.Operation]time.Duration{model.Backup: 13 * time.Hour, model.Restore: 13 * time.Hour}, Deadline: 24 * time.Hour, Resources: quicker},
		},
		Alerting: model.Alerting{
			Severity:      "warning",
			Labels:        map[string]string{"team": "platform"},
			RunbookURL:    "https://docs.example.org/runbooks/envsync",
			DashboardURL:  "https://grafana.example.org/d/envsync",
			DashboardUID:  "envsync",
			DashboardName: "Database syncs",
			Undeclared:    &model.Undeclared{Tier: "quicker", Class: "daily"},
		},
		Syncs: []model.Sync{
			{
				Name: "account-api-postgres", Instance: "account-api-postgres", Engine: model.Postgres,
				Databases: []string{"account-api_production"}, Owner: "account_api",
				Host: "account-api-postgres", Port: 5432, Secret: "envsync-account-api-postgres",
				Tier: tiers("quicker", "quicker", "quicker"),
				Jobs: []model.Job{
					job("production", "37 23 * * *", "daily", model.Backup),
					job("integration", "37 3 * * 1", "weekly-monday", model.Backup),
				},
			},
			{
				Name: "chat-postgres", Instance: "chat-postgres", Engine: model.Postgres,
				Databases: []string{"govuk_chat_production"}, Owner: "govuk_chat",
				Host: "chat-postgres", Port: 5432, Secret: "envsync-chat-postgres",
				Tier: tiers("quicker", "quicker", "quicker"),
				Jobs: []model.Job{
					job("production", "47 23 * * *", "daily", model.Backup),
					withRestoreFrom(job("staging", "47 1 * * 1-5", "weekdays", model.Restore, model.Backup), "production"),
					withTLS(withSanitise(withRestoreFrom(job("integration", "47 3 * * 1", "weekly-monday", model.Restore, model.Backup), "staging"),
						"govuk_chat_production", "syncs/sanitise/chat.sql"), model.TLS{Mode: "verify-ca", CA: &model.CA{Secret: "db-ca", Key: "ca.pem"}}),
				},
			},
			{
				Name: "retired-postgres", Instance: "retired-postgres", Engine: model.Postgres,
				Databases: []string{"retired_production"}, Owner: "retired",
				Host: "retired-postgres", Port: 5432, Secret: "envsync-retired-postgres",
				Tier: tiers("quicker", "quicker", "quicker"),
				Jobs: []model.Job{
					job("production", "5 23 * * *", "daily", model.Backup),
					withEnsure(withRestoreFrom(job("staging", "5 1 * * 1-5", "weekdays", model.Restore, model.Backup), "production"), model.Absent),
					withEnsure(withRestoreFrom(job("integration", "5 3 * * 1", "weekly-monday", model.Restore, model.Backup), "staging"), model.Disabled),
				},
			},
			{
				Name: "shared-documentdb", Instance: "shared-documentdb", Engine: model.Mongo,
				Databases: []string{"publisher_production", "govuk_assets_production"}, Owner: "",
				Host: "shared-documentdb", Port: 27017, Secret: "envsync-shared-documentdb",
				Tier: tiers("quicker", "quicker", "quicker"),
				Jobs: []model.Job{
					job("production", "13 0 * * *", "daily", model.Backup),
					withSanitise(withRestoreFrom(job("staging", "13 1 * * 1-5", "weekdays", model.Restore, model.Transform, model.Backup), "production"),
						"govuk_assets_production", "syncs/sanitise/asset-manager.js"),
				},
			},
			{
				Name: "signon-mysql-restore", Instance: "signon-mysql", Engine: model.MySQL,
				Databases: []string{"signon_production"}, Owner: "signon",
				Host: "signon-mysql", Port: 3306, Secret: "envsync-signon-mysql",
				Tier: tiers("quicker", "quicker", "quicker"),
				Jobs: []model.Job{
					withSuspend(withRestoreFrom(job("integration", "0 0 * * 1", "weekly-monday", model.Restore), "integration")),
				},
			},
			{
				Name: "whitehall-mysql", Instance: "whitehall-mysql", Engine: model.MySQL,
				Databases: []string{"whitehall_production"}, Owner: "whitehall",
				Host: "whitehall-mysql", Port: 3306, Secret: "envsync-whitehall-mysql",
				Tier:       tiers("slower", "quicker", "quicker"),
				MaxRunTime: 16 * time.Hour,
				Resources:  &model.Resources{RequestsCPU: "1", RequestsMemory: "512Mi", LimitsCPU: "2", LimitsMemory: "1Gi", Tmp: "20Gi"},
				Env:        []model.EnvVar{{Name: "MYSQL_EXTRA", Value: "1"}},
				Jobs: []model.Job{
					job("production", "28 0 * * *", "daily", model.Backup),
					withTLS(withSanitise(withRestoreFrom(job("staging", "28 1 * * 1-5", "weekdays", model.Restore, model.Backup), "production"),
						"whitehall_production", "syncs/sanitise/whitehall.sql"), model.TLS{Mode: "verify-full", CA: &model.CA{ConfigMap: "rds-ca", Key: "eu-west-1.pem"}}),
					withSanitise(withRestoreFrom(job("integration", "28 3 * * 1", "weekly-monday", model.Restore, model.Backup), "staging"),
						"whitehall_production", "syncs/sanitise/whitehall.sql"),
				},
			},
		},
	}
}

func tiers(backup, restore, transform string) map[model.Operation]string {
	return map[model.Operation]string{model.Backup: backup, model.Restore: restore, model.Transform: transform}
}

func job(env, schedule, class string, ops ...model.Operation) model.Job {
	return model.Job{Environment: env, Operations: ops, Schedule: schedule, Class: class, Ensure: model.Present}
}

func withRestoreFrom(j model.Job, from string) model.Job { j.RestoreFrom = from; return j }

func withSanitise(j model.Job, db, script string) model.Job {
	j.Sanitise = map[string]string{db: script}
	return j
}

func withSuspend(j model.Job) model.Job                { j.Suspend = true; return j }
func withEnsure(j model.Job, e model.Ensure) model.Job { j.Ensure = e; return j }

func withTLS(j model.Job, t model.TLS) model.Job { j.TLS = t; return j }
