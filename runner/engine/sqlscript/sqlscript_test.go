package sqlscript_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/envsync/envsync/runner/engine/sqlscript"
)

func keywords(t *testing.T, script string, d sqlscript.Dialect) string {
	t.Helper()
	stmts, err := sqlscript.Split(script, d)
	if err != nil {
		t.Fatalf("split %q: %v", script, err)
	}
	var out []string
	for _, s := range stmts {
		out = append(out, fmt.Sprintf("%d:%s", s.Line, s.Keyword))
	}
	return strings.Join(out, " ")
}

// What looks like a statement inside a string, a quoted name, a comment
// or a dollar quote is not one; lines are counted through all of them.
func TestSplitKeepsStringsCommentsAndQuotesWhole(t *testing.T) {
	cases := []struct {
		name, script string
		d            sqlscript.Dialect
		want         string
	}{
		{"plain", "UPDATE a SET b = 1;\nDELETE FROM c;", sqlscript.Postgres, "1:UPDATE 2:DELETE"},
		{"no final semicolon", "update a set b = 1", sqlscript.Postgres, "1:UPDATE"},
		{"string", "UPDATE a SET b = 'x; COMMIT; ''y'' ;\nROLLBACK';\nSELECT 1;", sqlscript.Postgres, "1:UPDATE 3:SELECT"},
		{"escape string", "UPDATE a SET b = E'\\'; COMMIT;';\nSELECT 1;", sqlscript.Postgres, "1:UPDATE 2:SELECT"},
		{"backslash is plain in a standard string", "UPDATE a SET b = 'c:\\';\nCOMMIT;", sqlscript.Postgres, "1:UPDATE 2:COMMIT"},
		{"dollar quote", "DO $x$ BEGIN\nCOMMIT;\nEND $x$;\nSELECT 1;", sqlscript.Postgres, "1:DO 4:SELECT"},
		{"empty dollar tag", "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nEND;", sqlscript.Postgres, "1:CREATE 2:END"},
		{"a parameter is not a dollar quote", "PREPARE p AS SELECT $1;\nSELECT $1;", sqlscript.Postgres, "1:PREPARE 2:SELECT"},
		{"nested comment", "/* a /* b */ COMMIT; */ SELECT 1;\n-- ROLLBACK;\nSELECT 2;", sqlscript.Postgres, "1:SELECT 3:SELECT"},
		{"quoted name", "UPDATE \"a;commit\" SET b = 1;\nSELECT 1;", sqlscript.Postgres, "1:UPDATE 2:SELECT"},
		{"comment before the keyword", "\n\n  -- note\n  commit;", sqlscript.Postgres, "4:COMMIT"},
		{"mysql backslash in a string", "UPDATE a SET b = 'x\\'; COMMIT;';\nSELECT 1;", sqlscript.MySQL, "1:UPDATE 2:SELECT"},
		{"mysql hash comment", "# COMMIT;\nUPDATE a SET b = 1;", sqlscript.MySQL, "2:UPDATE"},
		{"mysql dashes need a space", "UPDATE a SET b = 1--1;\nSELECT 1;", sqlscript.MySQL, "1:UPDATE 2:SELECT"},
		{"mysql backticks", "UPDATE `x;commit` SET b = \"y;rollback\";\nSELECT 1;", sqlscript.MySQL, "1:UPDATE 2:SELECT"},
		{"mysql delimiter", "DELIMITER //\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.b = 1; END//\nDELIMITER ;\nSELECT 1;", sqlscript.MySQL, "2:CREATE 4:SELECT"},
		{"only comments", "-- nothing\n/* at all */", sqlscript.Postgres, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := keywords(t, c.script, c.d); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// Every way a script can end the transaction it runs in is refused, at
// its line, in both dialects; a MySQL transform of live also refuses what
// commits implicitly.
func TestCheckRefusesWhatEndsTheTransaction(t *testing.T) {
	cases := []struct {
		name, script string
		d            sqlscript.Dialect
		live         bool
		line         int
		want         string
	}{
		{"rollback at the end", "UPDATE c SET email = 'x';\nROLLBACK;", sqlscript.Postgres, false, 2, "ROLLBACK"},
		{"commit in the middle", "UPDATE c SET email = 'x';\ncommit;\nSELECT 1/0;", sqlscript.Postgres, false, 2, "COMMIT"},
		{"end", "UPDATE c SET email = 'x';\n\nEND;", sqlscript.Postgres, false, 3, "END"},
		{"abort", "ABORT", sqlscript.Postgres, false, 1, "ABORT"},
		{"begin", "BEGIN;\nUPDATE c SET email = 'x';", sqlscript.Postgres, false, 1, "BEGIN"},
		{"start transaction", "START TRANSACTION;", sqlscript.Postgres, false, 1, "START"},
		{"savepoint", "SAVEPOINT s;\nUPDATE c SET email = 'x';\nROLLBACK TO s;", sqlscript.Postgres, false, 1, "SAVEPOINT"},
		{"two-phase", "PREPARE TRANSACTION 'x';", sqlscript.Postgres, false, 1, "PREPARE"},
		{"after a comment", "/* tidy up */ COMMIT;", sqlscript.Postgres, false, 1, "COMMIT"},
		{"mysql rollback", "UPDATE c SET email = 'x';\nROLLBACK;", sqlscript.MySQL, false, 2, "ROLLBACK"},
		{"mysql commit", "UPDATE c SET email = 'x';\nCOMMIT;\nSELECT 1;", sqlscript.MySQL, false, 2, "COMMIT"},
		{"mysql autocommit", "SET autocommit = 1;", sqlscript.MySQL, false, 1, "autocommit"},
		{"mysql lock tables", "LOCK TABLES c WRITE;", sqlscript.MySQL, false, 1, "LOCK"},
		{"mysql xa", "XA START 'x';", sqlscript.MySQL, false, 1, "XA"},
		{"mysql call", "CALL tidy();", sqlscript.MySQL, false, 1, "procedure"},
		{"mysql shell", "UPDATE c SET email = 'x';\n\\! touch /tmp/pwned\n", sqlscript.MySQL, false, 2, "client"},
		{"mysql executable comment", "/*!50000 COMMIT */;", sqlscript.MySQL, false, 1, "executable comment"},
		{"mysql DDL on live", "UPDATE c SET email = 'x';\nTRUNCATE t;", sqlscript.MySQL, true, 2, "commits before it"},
		{"mysql DDL on live, create", "CREATE TABLE x (a int);", sqlscript.MySQL, true, 1, "commits before it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := sqlscript.Check(c.script, c.d, c.live)
			var se *sqlscript.Error
			if !errors.As(err, &se) {
				t.Fatalf("Check = %v, want a refusal", err)
			}
			if se.Line != c.line || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check = %v, want line %d and %q", err, c.line, c.want)
			}
		})
	}
	for _, ok := range []struct {
		script string
		d      sqlscript.Dialect
		live   bool
	}{
		{"UPDATE c SET note = 'COMMIT; ROLLBACK';\n-- COMMIT;\nDO $$ BEGIN PERFORM 1; END $$;", sqlscript.Postgres, false},
		{"TRUNCATE t;\nCREATE TABLE x (a int);", sqlscript.MySQL, false}, // on the shadow
		{"CREATE TEMPORARY TABLE x (a int);\nUPDATE c SET note = 'x';", sqlscript.MySQL, true},
		{"SET @n = 'COMMIT';\nUPDATE c SET note = @n;", sqlscript.MySQL, true},
	} {
		if err := sqlscript.Check(ok.script, ok.d, ok.live); err != nil {
			t.Errorf("Check(%q) = %v, want nil", ok.script, err)
		}
	}
}

func TestTargetsReadWhatAStatementChanges(t *testing.T) {
	for script, want := range map[string]string{
		"UPDATE users\nSET email = 'user-' || md5(id::text) || '@example.com',\n    uid   = md5('uid' || id::text);": "users email,uid",
		`UPDATE "user" SET email = x, fullname = concat('a', 'b, c') WHERE sysadmin IS NOT TRUE`:                     "user email,fullname",
		"DELETE FROM conversations WHERE created_at < now() - interval '30 days'":                                    "conversations ",
		"TRUNCATE audit.events": "audit.events ",
		"UPDATE answers   SET message = 'x', sources_json = NULL;": "answers message,sources_json",
		"UPDATE u SET u.note = @n FROM x":                          "u note",
	} {
		stmts, err := sqlscript.Split(script, sqlscript.Postgres)
		if err != nil || len(stmts) != 1 {
			t.Fatalf("split %q: %v %v", script, stmts, err)
		}
		tg, ok := sqlscript.Targets(stmts[0])
		if got := tg.Table + " " + strings.Join(tg.Columns, ","); !ok || got != want {
			t.Errorf("Targets(%q) = %q (%v), want %q", script, got, ok, want)
		}
	}
}
