package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/testenv"
)

func TestDumpsListsAnInstancesDumpsNewestFirstWithTheirChecksumAndThePointer(t *testing.T) {
	srv := testenv.StartS3(t)
	srv.SetEnv(t)
	bucket := srv.CreateBucket(t, "govuk-staging-database-backups")
	put := func(key, body string) {
		t.Helper()
		if _, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte(body))}); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	put("chat-postgres/2026-11-28T014700Z-govuk_chat_production.gz", "an old script's dump")
	put("chat-postgres/2026-11-30T014700Z-govuk_chat_production.pgdump.zst", "a good dump")
	put("chat-postgres/2026-11-30T014700Z-govuk_chat_production.pgdump.zst.sha256", sum("a good dump")+"  2026-11-30T014700Z-govuk_chat_production.pgdump.zst\n")
	put("chat-postgres/2026-12-01T014700Z-govuk_chat_production.pgdump.zst", "a dump damaged at rest")
	put("chat-postgres/2026-12-01T014700Z-govuk_chat_production.pgdump.zst.sha256", sum("the dump as written")+"  x\n")
	put("chat-postgres/latest-govuk_chat_production.txt", "chat-postgres/2026-11-30T014700Z-govuk_chat_production.pgdump.zst\n")
	put("chat-postgres/2026-12-01T014700Z-other_production.pgdump.zst", "another database")

	// The bucket comes from the test estate's declaration of staging.
	out, _, err := envsync(t, "dumps", "--root", testEstate(t), "--verify", "staging", "chat-postgres", "govuk_chat_production")
	if err != nil {
		t.Fatalf("dumps: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 dumps of govuk_chat_production:\n%s", out)
	}
	for i, want := range []struct {
		taken, checksum string
		latest          bool
	}{
		{"2026-12-01T014700Z", "MISMATCH", false},
		{"2026-11-30T014700Z", "verified", true},
		{"2026-11-28T014700Z", "none", false},
	} {
		l := lines[i+1]
		if !strings.HasPrefix(l, want.taken) || !strings.Contains(l, " "+want.checksum+" ") || strings.Contains(l, "<- latest") != want.latest {
			t.Errorf("line %d: %q, want taken %s, checksum %s, latest %v", i+1, l, want.taken, want.checksum, want.latest)
		}
	}

	if _, _, err := envsync(t, "dumps", "--root", testEstate(t), "stagng", "chat-postgres"); err == nil || !strings.Contains(err.Error(), "declared: production, staging, integration") {
		t.Errorf("a misspelt environment: %v", err)
	}
	// The pointer's dump is said to be what integration's restores read
	// (staging's own restore reads production's bucket).
	if !strings.Contains(out, "<- latest: what integration's restores read") {
		t.Errorf("the latest dump does not say whose restores read it:\n%s", out)
	}
	// --json: the same list, for a script.
	js, _, err := envsync(t, "dumps", "--root", testEstate(t), "--json", "staging", "chat-postgres", "govuk_chat_production")
	var dumps []struct {
		Key    string
		Latest bool
	}
	if err != nil || json.Unmarshal([]byte(js), &dumps) != nil || len(dumps) != 3 || !dumps[1].Latest {
		t.Errorf("dumps --json: %v\n%s", err, js)
	}
	// A misspelt instance names the nearest declared ones.
	if _, _, err := envsync(t, "dumps", "--root", testEstate(t), "staging", "chat-postgresql"); err == nil || !strings.Contains(err.Error(), `no sync declares instance "chat-postgresql" in staging (the nearest: chat-postgres`) {
		t.Errorf("a misspelt instance: %v", err)
	}
}

// An operator pins a dump (a roll-back target, the copy before a
// migration): prune leaves it, dumps marks it, and unpin lets it go.
func TestAPinnedDumpOutlivesPruning(t *testing.T) {
	dir := t.TempDir()
	bucket := "file://" + dir
	now := time.Now().UTC()
	var keys []string
	for _, ago := range []int{30, 20, 10, 2, 1} {
		k := "chat-postgres/" + now.AddDate(0, 0, -ago).Format(layout.TimeFormat) + "-govuk_chat_production.pgdump.zst"
		keys = append(keys, k)
		for _, name := range []string{k, layout.ChecksumKey(k)} {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	os.WriteFile(filepath.Join(dir, layout.PointerKey("chat-postgres", "govuk_chat_production")), []byte(keys[4]), 0o644)
	args := func(more ...string) []string {
		return append([]string{"dumps", "--bucket", bucket, "staging", "chat-postgres", "govuk_chat_production"}, more...)
	}
	if _, _, err := envsync(t, args("--pin", keys[0])...); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Errorf("a pin without a reason: %v", err)
	}
	if out, _, err := envsync(t, args("--pin", keys[0], "--reason", "before the 2026 migration")...); err != nil || !strings.Contains(out, "pinned") {
		t.Fatalf("pin: %v\n%s", err, out)
	}
	out, _, err := envsync(t, args("--prune", "--days", "15")...)
	if err != nil || !strings.Contains(out, "removed "+keys[1]) || strings.Contains(out, keys[0]) || strings.Contains(out, keys[2]) {
		t.Fatalf("prune --days 15: %v\n%s", err, out)
	}
	list, _, _ := envsync(t, args()...)
	if !strings.Contains(list, "pinned: retention leaves it") {
		t.Errorf("the pinned dump is not marked:\n%s", list)
	}
	envsync(t, args("--unpin", keys[0])...)
	if out, _, _ := envsync(t, args("--prune", "--days", "15", "--dry-run")...); !strings.Contains(out, "would remove "+keys[0]) {
		t.Errorf("after unpinning, prune leaves it:\n%s", out)
	}
}
