package postgres_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/postgres"
)

// The rows counted in a dump as it streams by are what the database held,
// table by table: empty tables, values with newlines, a child of an
// inherited table, a partition, a name with a dot and large objects (a
// block of their own) included. A restore refuses a loaded copy whose
// rows differ, naming the table, before anything goes live.
func TestTheRowsCountedInADumpAreTheDatabasesAndARestoreChecksThem(t *testing.T) {
	pg := newServer(t)
	pg.Exec(t, "postgres", "CREATE DATABASE counted")
	pg.Exec(t, "counted", `
CREATE SCHEMA audit;
CREATE TABLE people (id int PRIMARY KEY, note text);
INSERT INTO people SELECT i, 'line one' || E'\n' || 'line two of ' || i FROM generate_series(1, 1234) i;
CREATE TABLE empty (id int);
CREATE TABLE audit.events (id int, payload jsonb);
INSERT INTO audit.events SELECT i, '{"a": "b\nc"}' FROM generate_series(1, 77) i;
CREATE TABLE parent (id int);
CREATE TABLE child () INHERITS (parent);
INSERT INTO parent VALUES (1), (2);
INSERT INTO child VALUES (3), (4), (5);
CREATE TABLE measures (at date, v int) PARTITION BY RANGE (at);
CREATE TABLE measures_2026 PARTITION OF measures FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO measures SELECT '2026-03-01'::date + i, i FROM generate_series(1, 100) i;
CREATE TABLE "odd.name" (id int);
INSERT INTO "odd.name" VALUES (1);
SELECT lo_from_bytea(0, 'a large object');
`)
	src := newEngine(t, pg, "counted", "")
	var buf bytes.Buffer
	if err := src.Dump(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := src.(engine.RowCounter).CountRows(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("counting the dump's rows: %v", err)
	}
	want := map[string]int64{
		"public.people": 1234, "public.empty": 0, "audit.events": 77, "public.parent": 2, "public.child": 3,
		"public.measures_2026": 100, "public.odd.name": 1,
	}
	if len(rows) != len(want) {
		t.Errorf("counted %v, want %v", rows, want)
	}
	for table, n := range want {
		if rows[table] != n {
			t.Errorf("%s: counted %d rows, want %d", table, rows[table], n)
		}
	}

	// The restore holds the loaded copy to them.
	dst := newEngine(t, pg, "restored", "")
	if err := dst.Restore(context.Background(), bytes.NewReader(buf.Bytes()), engine.RestoreOptions{Rows: rows}); err != nil {
		t.Fatalf("a restore of the dump with its own counts: %v", err)
	}
	before := pg.Snapshot(t, "restored")
	lost := map[string]int64{}
	for k, v := range rows {
		lost[k] = v
	}
	lost["public.people"]++ // as if the dump had lost one row on the way
	err = dst.Restore(context.Background(), bytes.NewReader(buf.Bytes()), engine.RestoreOptions{Rows: lost})
	if err == nil || !strings.Contains(err.Error(), "public.people holds 1234, the backup dumped 1235") {
		t.Fatalf("a restore whose copy lacks a row: %v", err)
	}
	if ok, diff := before.Equal(pg.Snapshot(t, "restored")); !ok {
		t.Errorf("live changed: %s", diff)
	}
	if _, err := (&postgres.Engine{}).CountRows(strings.NewReader("PGDMP\x01\x0e")); err == nil {
		t.Error("a cut-off archive was counted")
	}
}
