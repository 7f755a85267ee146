package mysql_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/mysql"
	"github.com/envsync/envsync/testenv"
)

// The rows counted in a dump as it streams by are what the database held:
// values with parentheses, quotes and escapes in them, an empty table, a
// table long enough for several INSERT statements, and an INSERT in a
// routine's body that is no row. A restore refuses a loaded copy whose
// rows differ, naming the table, and leaves live as it was.
func TestTheRowsCountedInADumpAreTheDatabasesAndARestoreChecksThem(t *testing.T) {
	m := testenv.StartMariaDB(t)
	createSource(t, m, "counted")
	m.Exec(t, "counted", `CREATE TABLE tricky (id INT PRIMARY KEY, v TEXT);
INSERT INTO tricky VALUES (1, 'a(b'), (2, 'it''s ) here'), (3, 'back\'slash (x'), (4, '"double" (y'), (5, ');('), (6, NULL);
CREATE TABLE nothing (id INT);
CREATE TABLE many (id INT PRIMARY KEY, pad VARCHAR(200));
SET SESSION max_recursive_iterations = 100000;
INSERT INTO many WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 20000) SELECT n, REPEAT('(x)', 60) FROM seq;`)
	src := newEngine(t, m, "counted")
	d := dump(t, src)
	if n := bytes.Count(d, []byte("\nINSERT INTO `many`")); n < 2 {
		t.Fatalf("the dump holds %d INSERT statements for many: the test proves less than it says", n)
	}
	rows, err := src.(engine.RowCounter).CountRows(bytes.NewReader(d))
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range m.Tables(t, "counted") {
		var want int64
		if err := m.Root().QueryRow("SELECT COUNT(*) FROM counted.`" + table + "`").Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got, ok := rows[table]; !ok || got != want {
			t.Errorf("%s: counted %d (%v), the table holds %d", table, got, ok, want)
		}
	}
	if _, ok := rows["user_totals"]; ok {
		t.Error("a view was counted as a table")
	}

	dst := newEngine(t, m, "restored")
	if err := dst.Restore(context.Background(), bytes.NewReader(d), engine.RestoreOptions{Rows: rows}); err != nil {
		t.Fatalf("a restore with the dump's own counts: %v", err)
	}
	before := snap(t, m, "restored")
	lost := map[string]int64{}
	for k, v := range rows {
		lost[k] = v
	}
	lost["many"]++
	err = dst.Restore(context.Background(), bytes.NewReader(d), engine.RestoreOptions{Rows: lost})
	if err == nil || !strings.Contains(err.Error(), "many holds 20000, the backup dumped 20001") {
		t.Fatalf("a restore whose copy lacks a row: %v", err)
	}
	assertSame(t, "live after the refused restore", snap(t, m, "restored"), before)
}

// MySQL's mysqldump writes a statement's tuples on one line, MariaDB's
// a line each; a routine's body under another DELIMITER holds no rows.
func TestRowsAreCountedInEitherClientsLayout(t *testing.T) {
	dump := "-- MySQL dump\n" +
		"CREATE TABLE `a` (\n  `id` int\n);\n" +
		"INSERT INTO `a` VALUES (1,'x(y'),(2,'it\\'s'),(3,')');\n" +
		"INSERT INTO `a` VALUES (4,NULL);\n" +
		"CREATE TABLE `b``q` (\n  `id` int\n);\n" +
		"INSERT INTO `b``q` VALUES\n(1,'a;b'),\n(2,'c');\n" +
		"CREATE TABLE `empty` (\n  `id` int\n);\n" +
		"DELIMITER ;;\nINSERT INTO `a` VALUES (99);;\nDELIMITER ;\n" +
		"-- Dump completed\n"
	rows, err := (&mysql.Engine{}).CountRows(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"a": 4, "b`q": 2, "empty": 0}; len(rows) != 3 || rows["a"] != 4 || rows["b`q"] != 2 || rows["empty"] != 0 {
		t.Errorf("counted %v, want %v", rows, want)
	}
	if _, err := (&mysql.Engine{}).CountRows(strings.NewReader("INSERT INTO `a` VALUES (1,'cut")); err == nil {
		t.Error("a dump ending inside an INSERT was counted")
	}
}
