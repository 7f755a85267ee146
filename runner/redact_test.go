package runner

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestNoSecretSurvivesInErrorsOrLogRecords(t *testing.T) {
	const pw = "pa ss:w@rd/'x"
	red := newRedactor(pw, "")
	inner := fmt.Errorf("pg_dump: connection to postgres://u:%s@h/db failed (password %s): %w", url.QueryEscape(pw), pw, fs.ErrNotExist)
	err := red.Err(inner)
	if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), url.QueryEscape(pw)) {
		t.Fatalf("error still holds the password: %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("redaction broke the error chain")
	}
	var buf bytes.Buffer
	log := slog.New(red.Handler(slog.NewJSONHandler(&buf, nil))).With("dsn", "x:"+pw)
	log.Error("failed with "+pw, "error", inner, "stderr", "FATAL: "+pw, slog.Group("g", "k", pw))
	if strings.Contains(buf.String(), "w@rd") {
		t.Fatalf("log record holds the password: %s", buf.String())
	}
	if strings.Count(buf.String(), redactedMark) < 5 {
		t.Errorf("expected every occurrence marked %s: %s", redactedMark, buf.String())
	}
}

// A password inside a connection string's user part is written with the
// user-part escaping, which differs from both query and path escaping.
func TestAPasswordInAURLsUserPartIsRedacted(t *testing.T) {
	for _, pw := range []string{"ab:c;d", "p@ss w0rd", "a/b?c#d&e=f", "x%y+z"} {
		u := url.URL{Scheme: "mongodb", Host: "h:27017", Path: "/db", User: url.UserPassword("u", pw)}
		got := newRedactor(pw).String("connecting to " + u.String() + " failed")
		if strings.Contains(got, "u:"+pw) || !strings.Contains(got, "u:"+redactedMark+"@h") {
			t.Errorf("password %q in %s: redacted to %q", pw, u.String(), got)
		}
	}
}
