package runner_test

import (
	"strings"
	"testing"

	"github.com/envsync/envsync/testenv"
)

// Every session of a run, the runner's own and pg_dump/pg_restore's,
// honours DB_SSLMODE, checked on the server side: each server logs every
// session with whether it was encrypted.

// pgTLSRig is a source and a target that accept TLS sessions only (as RDS
// with rds.force_ssl), with certificates of a test CA naming 127.0.0.1.
func pgTLSRig(t *testing.T) (*pgRig, *testenv.CA) {
	t.Helper()
	ca := testenv.NewCA(t)
	cert := ca.Server(t, "postgres", "127.0.0.1", "localhost")
	opts := testenv.PostgresOptions{TLS: cert, RequireTLS: true}
	r := &pgRig{bin: envsyncBinary(t), s3: testenv.StartS3(t), src: testenv.StartPostgresWith(t, opts), dst: testenv.StartPostgresWith(t, opts), pgw: testenv.StartPushgateway(t)}
	r.s3.CreateBucket(t, "dumps")
	r.src.Exec(t, "postgres", "CREATE DATABASE "+pgDatabase)
	r.src.Exec(t, pgDatabase, pgFixture)
	r.dst.Exec(t, "postgres", "CREATE ROLE "+pgOwner)
	return r, ca
}

// assertAllEncrypted fails when a session of envsync on pg was plaintext, or
// when there was none to look at.
func assertAllEncrypted(t *testing.T, pg *testenv.Postgres, what string) {
	t.Helper()
	sessions := pg.ConnectionLog(t, "envsync")
	if len(sessions) == 0 {
		t.Fatalf("%s: the server logged no envsync session: the check proves nothing", what)
	}
	for _, l := range sessions {
		if !strings.Contains(l, "SSL enabled") {
			t.Errorf("%s: a plaintext session: %s", what, l)
		}
	}
}

func TestPostgreSQLOverTLS(t *testing.T) {
	r, ca := pgTLSRig(t)
	for _, mode := range []string{"require", "verify-full"} {
		t.Run("backup, sanitising restore and transform all succeed with "+mode+" against servers that require TLS", func(t *testing.T) {
			tls := []string{"DB_SSLMODE=" + mode}
			if mode == "verify-full" {
				tls = append(tls, "DB_SSLROOTCERT="+ca.CertFile)
			}
			backupLogs := r.mustRun(t, r.src, "backup", tls...)
			r.mustRun(t, r.dst, "restore", append(tls, "SANITISE_SCRIPT="+writeScript(t, pgSanitise))...)
			r.mustRun(t, r.dst, "transform", append(tls, "SANITISE_SCRIPT="+writeScript(t, "UPDATE people SET note = 'transformed'"))...)
			var n int
			r.dst.Connect(t, pgDatabase).QueryRow(t.Context(), pgUnsanitised).Scan(&n)
			if n != 0 {
				t.Errorf("%d unsanitised rows after the restore", n)
			}
			assertAllEncrypted(t, r.src, "source")
			assertAllEncrypted(t, r.dst, "target")
			if !strings.Contains(backupLogs, `"msg":"database sessions","sslmode":"`+mode+`","protection":"TLS TLS 1.`) {
				t.Errorf("the backup does not log how its sessions are protected:\n%s", backupLogs)
			}
		})
	}

	t.Run("verify-full refuses a server whose certificate names another host, before touching anything", func(t *testing.T) {
		other := testenv.StartPostgresWith(t, testenv.PostgresOptions{TLS: ca.Server(t, "elsewhere", "db.elsewhere.invalid"), RequireTLS: true})
		other.Exec(t, "postgres", "CREATE DATABASE "+pgDatabase)
		other.Exec(t, pgDatabase, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
		before := other.Snapshot(t, pgDatabase)
		err, logs := r.run(t, other, "restore", "DB_SSLMODE=verify-full", "DB_SSLROOTCERT="+ca.CertFile)
		if err == nil {
			t.Fatalf("the restore succeeded against a certificate for another host:\n%s", logs)
		}
		if !strings.Contains(logs, "certificate") {
			t.Errorf("the error does not say the certificate is wrong:\n%s", logs)
		}
		if ok, diff := before.Equal(other.Snapshot(t, pgDatabase)); !ok {
			t.Errorf("live changed: %s", diff)
		}
		if dbs := other.Databases(t); len(dbs) != 1 {
			t.Errorf("databases beside live: %v", dbs)
		}
	})

	t.Run("require against a server without TLS fails with a clear error before touching anything", func(t *testing.T) {
		plain := testenv.StartPostgres(t)
		plain.Exec(t, "postgres", "CREATE DATABASE "+pgDatabase)
		before := plain.Snapshot(t, pgDatabase)
		for _, op := range []string{"backup", "restore"} {
			err, logs := r.run(t, plain, op, "DB_SSLMODE=require")
			if err == nil {
				t.Fatalf("%s succeeded without TLS:\n%s", op, logs)
			}
			if !strings.Contains(logs, "sslmode require") || !strings.Contains(logs, "TLS") {
				t.Errorf("%s: the error does not say TLS was required and refused:\n%s", op, logs)
			}
		}
		if ok, diff := before.Equal(plain.Snapshot(t, pgDatabase)); !ok {
			t.Errorf("live changed: %s", diff)
		}
		if dbs := plain.Databases(t); len(dbs) != 1 {
			t.Errorf("databases beside live: %v", dbs)
		}
	})

	t.Run("prefer works against a server that requires TLS and encrypts there, and against one without TLS", func(t *testing.T) {
		r.mustRun(t, r.dst, "restore", "DB_SSLMODE=prefer")
		assertAllEncrypted(t, r.dst, "target with TLS")
		plain := testenv.StartPostgres(t)
		plain.Exec(t, "postgres", "CREATE ROLE "+pgOwner)
		logs := r.mustRun(t, plain, "restore", "DB_SSLMODE=prefer")
		if !strings.Contains(logs, `"protection":"plaintext"`) {
			t.Errorf("a restore over plaintext does not say so:\n%s", logs)
		}
	})
}
