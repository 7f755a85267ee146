package runner_test

import (
	"strings"
	"testing"

	"github.com/envsync/envsync/testenv"
)

// MySQL runs over TLS against MariaDB servers with require_secure_transport:
// the server refuses every TCP session without TLS, the client tools' as
// well as the runner's, so a run that succeeds there was encrypted on every
// session.

func TestMySQLOverTLS(t *testing.T) {
	ca := testenv.NewCA(t)
	opts := testenv.MariaDBOptions{TLS: ca.Server(t, "mariadb", "127.0.0.1", "localhost"), RequireTLS: true}
	e := newMyEstateOn(t, testenv.StartMariaDBWith(t, opts), testenv.StartMariaDBWith(t, opts))

	for _, mode := range []string{"require", "verify-full"} {
		t.Run("backup, sanitising restore and transform all succeed with "+mode+" against servers that require TLS", func(t *testing.T) {
			tls := []string{"DB_SSLMODE=" + mode}
			if mode == "verify-full" {
				tls = append(tls, "DB_SSLROOTCERT="+ca.CertFile)
			}
			logs := mustRun(t, e, e.src, "backup", tls...)
			mustRun(t, e, e.dst, "restore", append(tls, "SANITISE_SCRIPT="+writeScript(t, "UPDATE users SET email = CONCAT('user', id, '@example.invalid');"))...)
			mustRun(t, e, e.dst, "transform", append(tls, "SANITISE_SCRIPT="+writeScript(t, "UPDATE users SET name = 'someone';"))...)
			var unsanitised int
			e.dst.DB(t, myDatabase).QueryRow("SELECT COUNT(*) FROM users WHERE email NOT LIKE '%@example.invalid' OR name <> 'someone'").Scan(&unsanitised)
			if unsanitised != 0 {
				t.Errorf("%d users not sanitised and transformed", unsanitised)
			}
			if !strings.Contains(logs, `"sslmode":"`+mode+`","protection":"TLS TLSv1.`) {
				t.Errorf("the backup does not log how its sessions are protected:\n%s", logs)
			}
		})
	}

	t.Run("verify-full refuses a server whose certificate names another host, before touching anything", func(t *testing.T) {
		other := testenv.StartMariaDBWith(t, testenv.MariaDBOptions{TLS: ca.Server(t, "elsewhere", "db.elsewhere.invalid"), RequireTLS: true})
		other.Exec(t, "", "CREATE DATABASE "+myDatabase)
		other.Exec(t, myDatabase, "CREATE TABLE kept (id INT); INSERT INTO kept VALUES (1)")
		out, err := e.run(t, other, "restore", "DB_SSLMODE=verify-full", "DB_SSLROOTCERT="+ca.CertFile)
		if err == nil {
			t.Fatalf("the restore succeeded against a certificate for another host:\n%s", out)
		}
		if !strings.Contains(out, "certificate") {
			t.Errorf("the error does not say the certificate is wrong:\n%s", out)
		}
		if got := other.Schemas(t); strings.Join(got, ",") != myDatabase {
			t.Errorf("schemas after the refused restore: %v", got)
		}
		if got := other.Tables(t, myDatabase); strings.Join(got, ",") != "kept" {
			t.Errorf("live's tables after the refused restore: %v", got)
		}
	})

	t.Run("require against a server without TLS fails with a clear error before touching anything", func(t *testing.T) {
		plain := testenv.StartMariaDB(t)
		plain.Exec(t, "", "CREATE DATABASE "+myDatabase)
		for _, op := range []string{"backup", "restore", "transform"} {
			out, err := e.run(t, plain, op, "DB_SSLMODE=require", "SANITISE_SCRIPT="+writeScript(t, "CREATE TABLE touched (id INT);"))
			if err == nil {
				t.Fatalf("%s succeeded without TLS:\n%s", op, out)
			}
			if !strings.Contains(out, "sslmode require") || !strings.Contains(out, "TLS") {
				t.Errorf("%s: the error does not say TLS was required and refused:\n%s", op, out)
			}
		}
		if got := plain.Tables(t, myDatabase); len(got) != 0 {
			t.Errorf("live was touched: tables %v", got)
		}
		if got := plain.Schemas(t); strings.Join(got, ",") != myDatabase {
			t.Errorf("schemas beside live: %v", got)
		}
	})

	t.Run("prefer works against a server that requires TLS, and against one without TLS", func(t *testing.T) {
		mustRun(t, e, e.dst, "restore", "DB_SSLMODE=prefer")
		plain := testenv.StartMariaDB(t)
		plain.Exec(t, "", "CREATE DATABASE "+myDatabase)
		out := mustRun(t, e, plain, "restore", "DB_SSLMODE=prefer")
		if !strings.Contains(out, `"protection":"plaintext"`) {
			t.Errorf("a restore over plaintext does not say so:\n%s", out)
		}
	})
}
