package layout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/storage"
)

func TestKeysFollowTheBucketLayoutInUTC(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("BST", 3600))
	if got, want := layout.DumpKey("chat-postgres", "chat_production", at, "pgdump.zst"), "chat-postgres/2026-03-04T040607Z-chat_production.pgdump.zst"; got != want {
		t.Errorf("DumpKey = %q, want %q", got, want)
	}
	if got, want := layout.PointerKey("chat-postgres", "chat_production"), "chat-postgres/latest-chat_production.txt"; got != want {
		t.Errorf("PointerKey = %q, want %q", got, want)
	}
	d, err := layout.Parse("chat-postgres/2026-03-04T040607Z-draft-content-store.sql.gz")
	if err != nil {
		t.Fatal(err)
	}
	if d.Database != "draft-content-store" || d.Ext != "sql.gz" || d.Instance != "chat-postgres" || !d.Time.Equal(time.Date(2026, 3, 4, 4, 6, 7, 0, time.UTC)) {
		t.Errorf("Parse = %+v", d)
	}
}

func TestPointersSidecarsAndStrangersAreNotDumps(t *testing.T) {
	for _, k := range []string{
		"i/latest-chat.txt",
		"i/2026-03-04T040607Z-chat.gz.sha256",
		"i/2026-03-04-chat.gz",
		"i/2026-03-04T040607Z-chat",
		"i/notes.md",
	} {
		if _, err := layout.Parse(k); err == nil {
			t.Errorf("Parse(%q) accepted it as a dump", k)
		}
	}
}

func put(t *testing.T, st storage.Store, key, content string) {
	t.Helper()
	if _, err := st.Put(context.Background(), key, strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
}

func TestChooseTakesFilenameThenPointerThenTheNewestListed(t *testing.T) {
	ctx := context.Background()
	st, err := storage.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := "i/2026-01-01T000000Z-chat.gz"
	mid := "i/2026-01-02T000000Z-chat.pgdump.zst"
	newest := "i/2026-01-03T000000Z-chat.pgdump.zst"
	for _, k := range []string{old, mid, newest, layout.ChecksumKey(newest), "i/2026-01-09T000000Z-other.gz"} {
		put(t, st, k, "x")
	}
	choose := func(want string) (string, layout.How) {
		t.Helper()
		d, how, err := layout.Choose(ctx, st, "i", "chat", want)
		if err != nil {
			t.Fatal(err)
		}
		return d.Key, how
	}
	if k, how := choose(""); k != newest || how != layout.ByListing {
		t.Errorf("without a pointer: %s by %s, want %s by listing", k, how, newest)
	}
	put(t, st, layout.PointerKey("i", "chat"), mid+"\n")
	if k, how := choose(""); k != mid || how != layout.ByPointer {
		t.Errorf("with a pointer to %s: chose %s by %s", mid, k, how)
	}
	if k, how := choose(old); k != old || how != layout.ByName {
		t.Errorf("FILENAME=%s: chose %s by %s", old, k, how)
	}
	if k, _ := choose("2026-01-01T000000Z-chat.gz"); k != old {
		t.Errorf("FILENAME as a bare file name: chose %s, want %s", k, old)
	}
	if k, how := choose("2026-01-03T00:00:00Z"); k != newest || how != layout.ByTimestamp {
		t.Errorf("FILENAME as an RFC 3339 timestamp: chose %s by %s", k, how)
	}
	if _, _, err := layout.Choose(ctx, st, "i", "chat", "2025-01-01T000000Z"); err == nil || !strings.Contains(err.Error(), "FILENAME") {
		t.Errorf("a timestamp with no dump: %v, want an error naming FILENAME", err)
	}
	if _, _, err := layout.Choose(ctx, st, "i", "nothing", ""); err == nil {
		t.Error("a database with no dump and no pointer: no error")
	}
}

func TestAPointerWrittenByTheOldScriptsIsRead(t *testing.T) {
	ctx := context.Background()
	st, _ := storage.NewDir(t.TempDir())
	// The shell scripts wrote the bare file name, or an s3:// URL.
	put(t, st, layout.PointerKey("i", "chat"), "2026-01-01T000000Z-chat.gz")
	d, _, err := layout.Choose(ctx, st, "i", "chat", "")
	if err != nil || d.Key != "i/2026-01-01T000000Z-chat.gz" {
		t.Fatalf("Choose = %q, %v", d.Key, err)
	}
}

func TestAFilenameThatMatchesNothingNamesTheNearestDumps(t *testing.T) {
	st, err := storage.Open(context.Background(), "file://"+t.TempDir(), storage.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"i/2026-11-01T000000Z-d.gz", "i/2026-11-20T000000Z-d.gz", "i/2026-11-21T000000Z-d.gz", "i/2026-11-29T000000Z-d.gz"} {
		if _, err := st.Put(context.Background(), k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"2026-11-22T000000Z", "i/2026-11-22T000000Z-d.gz", "2026-11-22T000000Z-d.gz"} {
		_, _, err := layout.Choose(context.Background(), st, "i", "d", want)
		if err == nil {
			t.Fatalf("FILENAME %q chose a dump", want)
		}
		if !strings.Contains(err.Error(), "nearest dumps are i/2026-11-21T000000Z-d.gz, i/2026-11-20T000000Z-d.gz, i/2026-11-29T000000Z-d.gz") {
			t.Errorf("FILENAME %q: %v", want, err)
		}
	}
	if d, _, err := layout.Choose(context.Background(), st, "i", "d", "2026-11-21T000000Z-d.gz"); err != nil || d.Key != "i/2026-11-21T000000Z-d.gz" {
		t.Errorf("an existing file name: %v %v", d, err)
	}
}

// Database names may hold dots: with my and my.db on one instance, each
// sees only its own dumps, and a FILENAME timestamp finds my's alone.
func TestADatabaseNameWithADotIsReadFromTheKeysEnd(t *testing.T) {
	for key, want := range map[string]string{
		"i/2026-03-04T040607Z-my.db.sql.zst":    "my.db",
		"i/2026-03-04T040607Z-my.sql.zst":       "my",
		"i/2026-03-04T040607Z-my.gz":            "my",
		"i/2026-03-04T040607Z-my.db.gz":         "my.db",
		"i/2026-03-04T040607Z-a.b.c.pgdump.zst": "a.b.c",
		"i/2026-03-04T040607Z-x.dump.zst":       "x",
	} {
		d, err := layout.Parse(key)
		if err != nil || d.Database != want {
			t.Errorf("Parse(%q) = %q, %v; want database %q", key, d.Database, err, want)
		}
	}
	st, err := storage.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, "i/2026-03-04T040607Z-my.db.sql.zst", "my.db's")
	put(t, st, "i/2026-03-03T040607Z-my.sql.zst", "my's")
	d, how, err := layout.Choose(context.Background(), st, "i", "my", "")
	if err != nil || d.Key != "i/2026-03-03T040607Z-my.sql.zst" {
		t.Errorf("Choose(my) = %s (%s), %v; want my's own dump", d.Key, how, err)
	}
	if _, _, err := layout.Choose(context.Background(), st, "i", "my", "2026-03-04T040607Z"); err == nil {
		t.Error("FILENAME=<timestamp of my.db's dump> chose a dump for my")
	}
}

// A key named in full (FILENAME) restores whatever its extension, when it
// is the database's; listings know only the dump extensions.
func TestAFilenameNamedInFullMayEndAsItLikes(t *testing.T) {
	st, err := storage.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, "i/2026-03-04T040607Z-my.bad", "x")
	d, how, err := layout.Choose(context.Background(), st, "i", "my", "i/2026-03-04T040607Z-my.bad")
	if err != nil || d.Database != "my" || how != layout.ByName {
		t.Errorf("Choose = %+v, %s, %v", d, how, err)
	}
	if _, _, err := layout.Choose(context.Background(), st, "i", "other", "i/2026-03-04T040607Z-my.bad"); err == nil {
		t.Error("another database's key was chosen")
	}
	if _, _, err := layout.Choose(context.Background(), st, "i", "my", ""); err == nil {
		t.Error("a listing chose an object with no dump extension")
	}
}
