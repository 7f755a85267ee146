package runner_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envsync/envsync/runner"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/postgres"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/storage"
	"github.com/envsync/envsync/testenv"
)

// The runner core's behaviour over real parts: versitygw, PostgreSQL (the
// engine is the real one) and a Pushgateway. Engine-specific behaviour is
// pinned in postgres_test.go and mysql_test.go.

const (
	instance = "chat-postgres"
	database = "chat_production"
)

// recorder is a real store that remembers the order of the calls it served.
type recorder struct {
	storage.Store
	mu    sync.Mutex
	calls []string
	// onRead, when set, sees the bytes read so far by a Put of a dump.
	onRead func(n int64)
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) Put(ctx context.Context, key string, rd io.Reader) (int64, error) {
	if r.onRead != nil && !strings.HasSuffix(key, ".txt") && !strings.HasSuffix(key, ".sha256") {
		rd = &watch{r: rd, f: r.onRead}
	}
	n, err := r.Store.Put(ctx, key, rd)
	if err == nil {
		r.note("put " + key)
	}
	return n, err
}

func (r *recorder) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	r.note("get " + key)
	return r.Store.Get(ctx, key)
}

func (r *recorder) List(ctx context.Context, prefix string) ([]string, error) {
	r.note("list " + prefix)
	return r.Store.List(ctx, prefix)
}

type watch struct {
	r io.Reader
	n int64
	f func(int64)
}

func (w *watch) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.n += int64(n)
	w.f(w.n)
	return n, err
}

// syncedBuffer collects logs written from several goroutines.
type syncedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type rig struct {
	s3       *testenv.S3Server
	s3store  *storage.S3
	src, dst *testenv.Postgres
	pgw      *testenv.Pushgateway
	logs     *syncedBuffer
}

func newRig(t *testing.T) *rig {
	r := &rig{s3: testenv.StartS3(t), src: testenv.StartPostgres(t), dst: testenv.StartPostgres(t), pgw: testenv.StartPushgateway(t), logs: &syncedBuffer{}}
	bucket := r.s3.CreateBucket(t, "dumps")
	r.s3store = storage.NewS3(r.s3.Config(), bucket, storage.S3Options{PartSize: 5 << 20, Concurrency: 2})
	r.src.Exec(t, "postgres", "CREATE DATABASE "+database)
	// About 18 MB of text, 9 MB compressed: two parts of 5 MiB.
	r.src.Exec(t, database, `CREATE TABLE messages (id int PRIMARY KEY, email text, body text);
		INSERT INTO messages SELECT i, 'user'||i||'@example.com', md5(i::text)||md5((i*7)::text)
		FROM generate_series(1, 200000) i;`)
	return r
}

func (r *rig) config(pg *testenv.Postgres) runner.Config {
	return runner.Config{
		Engine: "postgres",
		DB: engine.Config{Host: pg.Host, Port: pg.Port, User: pg.User, Password: pg.Password,
			Database: database, Owner: pg.User},
		Instance:         instance,
		Bucket:           "s3://dumps",
		Environment:      "staging",
		Pod:              "chat-postgres-backup-29012345-abcde",
		ProgressInterval: 50 * time.Millisecond,
	}
}

func (r *rig) runner(t *testing.T, cfg runner.Config, st storage.Store, at time.Time) *runner.Runner {
	t.Helper()
	eng, err := postgres.New(cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(r.logs, nil))
	return runner.New(cfg, st, eng, log).WithClock(func() time.Time { return at })
}

func (r *rig) read(t *testing.T, key string) []byte {
	t.Helper()
	rc, err := r.s3store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *rig) write(t *testing.T, key string, b []byte) {
	t.Helper()
	if _, err := r.s3store.Put(context.Background(), key, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) keys(t *testing.T) []string {
	t.Helper()
	ks, err := r.s3store.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func hasLine(logs string, parts ...string) bool {
	for _, l := range strings.Split(logs, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

var (
	day1 = time.Date(2026, 11, 2, 1, 30, 0, 0, time.UTC)
	day2 = day1.Add(24 * time.Hour)
	day3 = day2.Add(24 * time.Hour)
)

func TestTheRunnerOverS3AndPostgreSQL(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	key1 := layout.DumpKey(instance, database, day1, "pgdump.zst")
	pointer := layout.PointerKey(instance, database)

	t.Run("a backup stores the dump, then its row counts and its checksum, then the pointer", func(t *testing.T) {
		rec := &recorder{Store: r.s3store}
		if err := r.runner(t, r.config(r.src), rec, day1).Run(ctx, "backup", nil); err != nil {
			t.Fatal(err)
		}
		want := []string{"put " + key1, "put " + key1 + ".rows.json", "put " + key1 + ".sha256", "put " + pointer}
		if got := rec.Calls(); !slices.Equal(got, want) {
			t.Fatalf("store calls %q, want %q", got, want)
		}
		dump := r.read(t, key1)
		if !bytes.HasPrefix(dump, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			t.Errorf("the dump does not start with zstd's magic: %x", dump[:8])
		}
		sum := sha256.Sum256(dump)
		if side := string(r.read(t, key1+".sha256")); side != hex.EncodeToString(sum[:])+"  "+key1[len(instance)+1:]+"\n" {
			t.Errorf("sidecar %q does not match the object's SHA-256 %x", side, sum)
		}
		if p := string(r.read(t, pointer)); p != key1 {
			t.Errorf("pointer holds %q, want %q", p, key1)
		}
		if strings.Contains(r.logs.String(), r.src.Password) {
			t.Errorf("the password is in the logs")
		}
		if !hasLine(r.logs.String(), `"msg":"transfer done"`, `"transfer":"backup upload"`) {
			t.Errorf("no progress line for the upload in the logs:\n%s", r.logs.String())
		}
	})

	t.Run("a restore reads the dump once, streaming it or into a local copy, and loads it into another server", func(t *testing.T) {
		for _, localCopy := range []bool{false, true} {
			r.dst.Exec(t, "postgres", "DROP DATABASE IF EXISTS "+database+" WITH (FORCE)")
			rec := &recorder{Store: r.s3store}
			cfg := r.config(r.dst)
			cfg.LocalCopy = localCopy
			if err := r.runner(t, cfg, rec, day1.Add(time.Hour)).Run(ctx, "restore", nil); err != nil {
				t.Fatal(err)
			}
			// pointer, sidecars, then the dump once: streamed into the
			// shadow, or checked into a local copy that the restore reads.
			want := []string{"get " + pointer, "get " + key1 + ".sha256", "get " + key1 + ".rows.json", "get " + key1}
			if got := rec.Calls(); !slices.Equal(got, want) {
				t.Errorf("with a local copy %v: store calls %q, want %q", localCopy, got, want)
			}
			if ok, diff := r.src.Snapshot(t, database).Equal(r.dst.Snapshot(t, database)); !ok {
				t.Fatalf("with a local copy %v: restored data differs: %s", localCopy, diff)
			}
		}
	})

	t.Run("a backup killed mid-stream leaves no object and the previous pointer", func(t *testing.T) {
		kctx, kill := context.WithCancel(ctx)
		defer kill()
		rec := &recorder{Store: r.s3store, onRead: func(n int64) {
			if n > 6<<20 { // a multipart upload is under way
				kill()
			}
		}}
		before := r.keys(t)
		err := r.runner(t, r.config(r.src), rec, day2).Run(kctx, "backup", nil)
		if err == nil {
			t.Fatal("a backup killed mid-stream succeeded")
		}
		if after := r.keys(t); !slices.Equal(after, before) {
			t.Fatalf("bucket went from %q to %q", before, after)
		}
		if p := string(r.read(t, pointer)); p != key1 {
			t.Errorf("pointer now holds %q, want the previous %q", p, key1)
		}
		if pending, err := r.s3store.PendingUploads(ctx, ""); err != nil || len(pending) != 0 {
			t.Errorf("multipart uploads left pending: %q %v", pending, err)
		}
	})

	t.Run("a backup of a database that cannot be dumped stores nothing", func(t *testing.T) {
		cfg := r.config(r.src)
		cfg.DB.Database = "no_such_database"
		before := r.keys(t)
		err := r.runner(t, cfg, r.s3store, day2).Run(ctx, "backup", nil)
		if err == nil || !strings.Contains(err.Error(), "no_such_database") {
			t.Fatalf("error %v, want one naming the database", err)
		}
		if after := r.keys(t); !slices.Equal(after, before) {
			t.Fatalf("bucket went from %q to %q", before, after)
		}
	})

	t.Run("a restore refuses a dump that does not match its checksum: live untouched, no shadow left", func(t *testing.T) {
		original := r.read(t, key1+".sha256")
		defer r.write(t, key1+".sha256", original)
		other := sha256.Sum256([]byte("another dump"))
		r.write(t, key1+".sha256", []byte(hex.EncodeToString(other[:])+"  x\n"))
		r.dst.Exec(t, database, "CREATE TABLE marker (x int)")
		err := r.runner(t, r.config(r.dst), r.s3store, day2).Run(ctx, "restore", nil)
		if !errors.Is(err, runner.ErrChecksum) {
			t.Fatalf("error %v, want ErrChecksum", err)
		}
		if dbs := r.dst.Databases(t); slices.ContainsFunc(dbs, func(d string) bool { return d != database && strings.Contains(d, database) }) {
			t.Errorf("a shadow or old copy appeared: %q", dbs)
		}
		r.dst.Exec(t, database, "DROP TABLE marker") // still there: live untouched
	})

	t.Run("a restore refuses a truncated dump whose sidecar agrees: live untouched, no shadow left", func(t *testing.T) {
		dump := r.read(t, key1)
		cut := dump[:len(dump)*2/3]
		sum := sha256.Sum256(cut)
		key := layout.DumpKey(instance, database, day2, "pgdump.zst")
		r.write(t, key, cut)
		r.write(t, key+".sha256", []byte(hex.EncodeToString(sum[:])+"\n"))
		defer r.s3store.Delete(ctx, key)
		defer r.s3store.Delete(ctx, key+".sha256")
		cfg := r.config(r.dst)
		cfg.Filename = key
		r.dst.Exec(t, database, "CREATE TABLE marker (x int)")
		err := r.runner(t, cfg, r.s3store, day2).Run(ctx, "restore", nil)
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "unexpected EOF") {
			t.Fatalf("error %v, want one naming %s and the unexpected end", err, key)
		}
		if dbs := r.dst.Databases(t); slices.ContainsFunc(dbs, func(d string) bool { return d != database && strings.Contains(d, database) }) {
			t.Errorf("a shadow or old copy was left: %q", dbs)
		}
		r.dst.Exec(t, database, "DROP TABLE marker") // still there: live untouched
	})

	t.Run("a restore into production is refused before the bucket is read, and the refusal is reported as a failure", func(t *testing.T) {
		rec := &recorder{Store: r.s3store}
		cfg := r.config(r.dst)
		cfg.Environment = "Production"
		cfg.PushgatewayURL = r.pgw.URL
		err := r.runner(t, cfg, rec, day2).Run(ctx, "restore", nil)
		if err == nil || !strings.Contains(err.Error(), "REALLY_RESTORE_ONTO_PRODUCTION") {
			t.Fatalf("error %v, want one naming REALLY_RESTORE_ONTO_PRODUCTION", err)
		}
		if calls := rec.Calls(); len(calls) != 0 {
			t.Errorf("the store was used: %q", calls)
		}
		// A CronJob that restores into production by mistake fails every
		// night: "operation failed" must fire for it.
		if s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"operation": "restore"}); len(s) != 1 || s[0].Value != 0 {
			t.Errorf("a refused restore pushed %+v, want state 0", s)
		}
	})

	t.Run("operations report size, state and the restored dump's age to the Pushgateway", func(t *testing.T) {
		cfg := r.config(r.src)
		cfg.PushgatewayURL = r.pgw.URL
		if err := r.runner(t, cfg, r.s3store, day3).Run(ctx, "backup", nil); err != nil {
			t.Fatal(err)
		}
		key3 := layout.DumpKey(instance, database, day3, "pgdump.zst")
		size := len(r.read(t, key3))
		base := map[string]string{"job": "db-backup", "database_engine": "postgres", "database_instance": instance, "database_db_name": database, "instance": cfg.Pod}
		with := func(kv ...string) map[string]string {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
		expect := func(name string, match map[string]string, want float64) {
			t.Helper()
			s := r.pgw.Series(t, name, match)
			if len(s) != 1 || s[0].Value != want {
				t.Errorf("%s%v = %+v, want one series of value %v", name, match, s, want)
			}
		}
		expect("db_backup_job_state", with("operation", "backup"), 2)
		expect("db_backup_job_file_size_bytes", with("operation", "backup"), float64(size))
		expect("db_backup_job_status_timestamp_seconds", with("operation", "backup", "state", "succeeded"), float64(day3.Unix()))

		dcfg := r.config(r.dst)
		dcfg.PushgatewayURL = r.pgw.URL
		dcfg.SanitiseScript = t.TempDir() + "/sanitise.sql"
		writeFile(t, dcfg.SanitiseScript, "UPDATE messages SET email = 'user'||id||'@example.invalid';")
		if err := r.runner(t, dcfg, r.s3store, day3.Add(time.Hour)).Run(ctx, "restore", nil); err != nil {
			t.Fatal(err)
		}
		expect("db_backup_job_state", with("operation", "restore"), 2)
		expect("db_backup_job_file_size_bytes", with("operation", "restore"), float64(size))
		expect("db_backup_restored_dump_timestamp_seconds", with("operation", "restore"), float64(day3.Unix()))
		expect("db_backup_job_state", with("operation", "transform"), 2)
		expect("db_backup_job_status_timestamp_seconds", with("operation", "transform", "state", "succeeded"), float64(day3.Add(time.Hour).Unix()))
		var unsanitised int
		c := r.dst.Connect(t, database)
		if err := c.QueryRow(ctx, "SELECT count(*) FROM messages WHERE email NOT LIKE '%@example.invalid'").Scan(&unsanitised); err != nil || unsanitised != 0 {
			t.Errorf("%d unsanitised rows after a sanitising restore (%v)", unsanitised, err)
		}
	})

	t.Run("a backup with the Pushgateway down succeeds with a warning", func(t *testing.T) {
		r.pgw.Proc.Stop()
		cfg := r.config(r.src)
		cfg.PushgatewayURL = r.pgw.URL
		n := len(r.logs.String())
		if err := r.runner(t, cfg, r.s3store, day3.Add(2*time.Hour)).Run(ctx, "backup", nil); err != nil {
			t.Fatalf("the backup failed because the Pushgateway is down: %v", err)
		}
		if logs := r.logs.String()[n:]; !strings.Contains(logs, `"level":"WARN","msg":"could not push metrics`) {
			t.Errorf("no warning about the Pushgateway in:\n%s", logs)
		}
		if p := string(r.read(t, pointer)); p != layout.DumpKey(instance, database, day3.Add(2*time.Hour), "pgdump.zst") {
			t.Errorf("pointer %q not moved to the new dump", p)
		}
	})
}

// Two backups within one second (a rerun by hand): keys are to the second,
// so the second backup takes the next second's key rather than overwrite
// the first dump, which the pointer names.
func TestABackupNeverOverwritesAStoredDump(t *testing.T) {
	r := newRig(t)
	st, err := storage.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.runner(t, r.config(r.src), st, day1).Run(t.Context(), "backup", nil); err != nil {
			t.Fatal(err)
		}
	}
	first, second := layout.DumpKey(instance, database, day1, "pgdump.zst"), layout.DumpKey(instance, database, day1.Add(time.Second), "pgdump.zst")
	keys, err := st.List(t.Context(), instance+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(keys, first) || !slices.Contains(keys, second) {
		t.Fatalf("keys %q, want both %s and %s", keys, first, second)
	}
	if p, _ := layout.ReadPointer(t.Context(), st, instance, database); p != second {
		t.Errorf("the pointer names %s, want the newer dump %s", p, second)
	}
}
