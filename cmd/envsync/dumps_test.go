package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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
