package runner_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/runner/engine/mongo/archive"
	"github.com/envsync/envsync/testenv"
)

// Whole operations of the envsync binary on Mongo: FerretDB v1 (a real
// MongoDB-wire server, here the stand-in for DocumentDB, on PostgreSQL),
// versitygw, a Pushgateway, and mongosh for scripts.

const (
	mongoInstance = "shared-documentdb"
	mongoFixtures = "../../shared/fixtures/mongo"
)

type mongoRig struct {
	s3       *testenv.S3Server
	pgw      *testenv.Pushgateway
	src, dst *testenv.FerretDB
	path     string // PATH with mongosh
}

func newMongoRig(t *testing.T) *mongoRig {
	t.Helper()
	r := &mongoRig{s3: testenv.StartS3(t), pgw: testenv.StartPushgateway(t), src: testenv.StartFerretDB(t), dst: testenv.StartFerretDB(t)}
	r.s3.CreateBucket(t, "dumps")
	r.path = filepath.Dir(testenv.Mongosh(t)) + string(os.PathListSeparator) + os.Getenv("PATH")
	return r
}

// env is the runner environment for an operation on database of f; extra
// settings (KEY=value) come last and win.
func (r *mongoRig) env(f *testenv.FerretDB, database string, extra ...string) []string {
	env := append([]string{
		"PATH=" + r.path, "HOME=" + os.Getenv("HOME"),
		"DB_ENGINE=mongo", "DB_HOST=" + f.Host, "DB_PORT=" + strconv.Itoa(f.Port),
		"DB_USER=" + f.User, "DB_PASSWORD=" + f.Password, "DB_AUTH_MECHANISM=PLAIN",
		"DB_DATABASE=" + database, "DB_INSTANCE=" + mongoInstance,
		"BUCKET=s3://dumps", "ENVIRONMENT=staging", "HOSTNAME=shared-documentdb-29012345-abcde",
		"PROMETHEUS_PUSHGATEWAY_URL=" + r.pgw.URL,
	}, r.s3.Env()...)
	return append(env, extra...)
}

func (r *mongoRig) run(t *testing.T, f *testenv.FerretDB, op, database string, extra ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(envsyncBinary(t), "run", op)
	cmd.Env = r.env(f, database, extra...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *mongoRig) mustRun(t *testing.T, f *testenv.FerretDB, op, database string, extra ...string) string {
	t.Helper()
	out, err := r.run(t, f, op, database, extra...)
	if err != nil {
		t.Fatalf("envsync run %s of %s: %v\n%s", op, database, err, out)
	}
	if strings.Contains(out, f.Password) {
		t.Errorf("the password is in the output of envsync run %s", op)
	}
	return out
}

func (r *mongoRig) put(t *testing.T, key string, body []byte) {
	t.Helper()
	_, err := r.s3.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("dumps"), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
}

// mongoCollection is what a test compares of one collection.
type mongoCollection struct {
	Count    int
	Checksum string   // the fixtures' checksum: sorted canonical Extended JSON lines
	Indexes  []string // name, key and unique of each index
}

// mongoSnapshot reads every collection of database.
func mongoSnapshot(t *testing.T, f *testenv.FerretDB, database string) map[string]mongoCollection {
	t.Helper()
	ctx := context.Background()
	db := f.Client().Database(database)
	snap := map[string]mongoCollection{}
	for n, docs := range f.Documents(t, database) {
		var specs []bson.D
		ic, err := db.Collection(n).Indexes().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := ic.All(ctx, &specs); err != nil {
			t.Fatal(err)
		}
		snap[n] = mongoCollection{Count: len(docs), Checksum: testenv.ContentChecksum(t, docs), Indexes: indexSummaries(specs)}
	}
	return snap
}

// indexSummaries keeps what FerretDB v1 reports faithfully: name, key and
// unique (it accepts sparse and forgets it).
func indexSummaries(specs []bson.D) []string {
	var out []string
	for _, spec := range specs {
		m := dmap(spec)
		key, _ := bson.MarshalExtJSON(m["key"], false, false)
		unique, _ := m["unique"].(bool)
		out = append(out, fmt.Sprintf("%v %s unique=%v", m["name"], key, unique))
	}
	slices.Sort(out)
	return out
}

type mongoManifest struct {
	Archives []struct {
		File        string `json:"file"`
		Database    string `json:"database"`
		Collections []struct {
			Name     string `json:"name"`
			Count    int    `json:"count"`
			Checksum string `json:"checksum_sha256"`
			Indexes  []struct {
				Name   string  `json:"name"`
				Key    [][]any `json:"key"`
				Unique bool    `json:"unique"`
				Sparse bool    `json:"sparse"`
			} `json:"indexes"`
		} `json:"collections"`
	} `json:"archives"`
}

func loadMongoManifest(t *testing.T) mongoManifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mongoFixtures, "manifest.json"))
	if err != nil {
		t.Fatalf("the Mongo fixtures (shared/fixtures/mongo beside the repository): %v", err)
	}
	var m mongoManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mongoFixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEnvsyncRunOnMongo(t *testing.T) {
	r := newMongoRig(t)
	m := loadMongoManifest(t)

	t.Run("every dump of the old scripts restores with every document and index of the manifest", func(t *testing.T) {
		for _, a := range m.Archives {
			r.put(t, mongoInstance+"/"+a.File, fixture(t, a.File))
			r.mustRun(t, r.src, "restore", a.Database)
			snap := mongoSnapshot(t, r.src, a.Database)
			if len(snap) != len(a.Collections) {
				t.Errorf("%s: %d collections, want %d: %v", a.Database, len(snap), len(a.Collections), snap)
			}
			for _, want := range a.Collections {
				got := snap[want.Name]
				if got.Count != want.Count || got.Checksum != want.Checksum {
					t.Errorf("%s.%s: %d documents, checksum %s; want %d, %s", a.Database, want.Name, got.Count, got.Checksum, want.Count, want.Checksum)
				}
				var wantIdx []string
				for _, ix := range want.Indexes {
					key := bson.D{}
					for _, k := range ix.Key {
						key = append(key, bson.E{Key: k[0].(string), Value: int32(k[1].(float64))})
					}
					b, _ := bson.MarshalExtJSON(key, false, false)
					wantIdx = append(wantIdx, fmt.Sprintf("%s %s unique=%v", ix.Name, b, ix.Unique))
				}
				slices.Sort(wantIdx)
				if !slices.Equal(got.Indexes, wantIdx) {
					t.Errorf("%s.%s: indexes %v, want %v", a.Database, want.Name, got.Indexes, wantIdx)
				}
			}
		}
	})

	t.Run("sparse, which FerretDB v1 forgets, is sent to the server as the archive says", func(t *testing.T) {
		// FerretDB v1 accepts sparse and does not report it, so the restored
		// indexes cannot show it; what the runner sends comes from the
		// archive's metadata, which the archive package's tests pin against
		// the manifest. Here: the archive the runner read says sparse.
		ar, err := archive.NewReader(gunzipBytes(t, fixture(t, "2026-11-30T001300Z-short_url_manager_production.gz")))
		if err != nil {
			t.Fatal(err)
		}
		sparse := 0
		for _, c := range ar.Collections() {
			md, _ := archive.ParseMetadata(c.Metadata)
			for _, ix := range md.Indexes {
				if v, _ := dmap(ix)["sparse"].(bool); v {
					sparse++
				}
			}
		}
		if sparse == 0 {
			t.Error("the short_url_manager archive declares no sparse index")
		}
	})

	t.Run("backup then restore into another server gives identical collections, and the password is in no argument nor log", func(t *testing.T) {
		stop := testenv.WatchArguments(r.src.Password, "mongosh", "envsync")
		backup := r.mustRun(t, r.src, "backup", "publisher_production")
		restore := r.mustRun(t, r.dst, "restore", "publisher_production")
		seen := stop()
		if len(seen.Leaks) > 0 {
			t.Errorf("the password is in the arguments of %v", seen.Leaks)
		}
		want, got := mongoSnapshot(t, r.src, "publisher_production"), mongoSnapshot(t, r.dst, "publisher_production")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("restored copy differs:\n got %v\nwant %v", got, want)
		}
		for _, logs := range []string{backup, restore} {
			if !strings.Contains(logs, `"msg":"operation succeeded"`) || !strings.Contains(logs, `"msg":"database sessions"`) {
				t.Errorf("logs:\n%s", logs)
			}
		}
		for _, op := range []string{"backup", "restore"} {
			s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"database_engine": "mongo", "database_instance": mongoInstance, "database_db_name": "publisher_production", "operation": op})
			if len(s) != 1 || s[0].Value != 2 {
				t.Errorf("db_backup_job_state{operation=%q} = %+v, want 2", op, s)
			}
		}
	})

	t.Run("a truncated, a foreign and an empty dump are refused: live untouched, nothing left beside it", func(t *testing.T) {
		before := mongoSnapshot(t, r.dst, "publisher_production")
		pgDump := []byte("PGDMP\x01\x0e\x00\x04\x08\x01\x01")
		for name, body := range map[string][]byte{
			"truncated": fixture(t, "truncated-publisher_production.gz"),
			"foreign":   pgDump,
			"empty":     {},
		} {
			key := mongoInstance + "/2026-12-01T000000Z-publisher_production.gz"
			r.put(t, key, body)
			out, err := r.run(t, r.dst, "restore", "publisher_production", "FILENAME="+key)
			if err == nil {
				t.Errorf("%s dump restored:\n%s", name, out)
			}
			if after := mongoSnapshot(t, r.dst, "publisher_production"); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("%s dump: live changed", name)
			}
			assertNoMongoWorking(t, r.dst, "publisher_production")
		}
	})

	t.Run("a failing sanitise script fails the restore, names its line and leaves live untouched", func(t *testing.T) {
		before := mongoSnapshot(t, r.dst, "publisher_production")
		script := writeScript(t, "db.users.updateMany({}, {$set: {email: 'x@example.invalid'}});\nprint('half way');\ndb.users.updateMany({}, {$inc: {name: 1}});\n")
		out, err := r.run(t, r.dst, "restore", "publisher_production", "SANITISE_SCRIPT="+script)
		if err == nil {
			t.Fatalf("the restore succeeded:\n%s", out)
		}
		if !strings.Contains(out, "script line 3: ") || !strings.Contains(out, "Cannot apply $inc") {
			t.Errorf("the error does not name line 3 of the script:\n%s", out)
		}
		if after := mongoSnapshot(t, r.dst, "publisher_production"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("live changed")
		}
		assertNoMongoWorking(t, r.dst, "publisher_production")
		for _, op := range []string{"restore", "transform"} {
			s := r.pgw.Series(t, "db_backup_job_state", map[string]string{"database_engine": "mongo", "database_db_name": "publisher_production", "operation": op})
			if len(s) != 1 || s[0].Value != 0 {
				t.Errorf("db_backup_job_state{operation=%q} = %+v, want 0", op, s)
			}
		}
	})

	t.Run("a script that would reach past the shadow is refused before anything is touched", func(t *testing.T) {
		script := writeScript(t, "// sanitise\nconst users = db.getSiblingDB('publisher_production').users;\nusers.deleteMany({});\n")
		out, err := r.run(t, r.dst, "restore", "publisher_production", "SANITISE_SCRIPT="+script)
		if err == nil || !strings.Contains(out, "line 2") || !strings.Contains(out, "getSiblingDB") {
			t.Errorf("a script naming another database: %v\n%s", err, out)
		}
	})

	t.Run("a sanitising restore sanitises the new copy before it reaches live", func(t *testing.T) {
		// A second's pause in the script, so that the watch reads mongosh's
		// environment: its own connection is in a file it removed, and
		// nothing of the runner's is there.
		script := writeScript(t, "db.users.updateMany({}, {$set: {email: 'user@example.invalid'}});\nsleep(1000);\n")
		stop := testenv.WatchArguments(r.dst.Password, "mongosh", "node")
		r.mustRun(t, r.dst, "restore", "publisher_production", "SANITISE_SCRIPT="+script)
		seen := stop()
		if len(seen.Environs) == 0 {
			t.Errorf("mongosh's environment was never read (saw %v): the check proves nothing", seen.Tools)
		}
		if got := append(seen.EnvHolding(r.s3.SecretKey), seen.EnvHolding(r.dst.Password)...); len(got) > 0 {
			t.Errorf("a secret is in the environment of %v", got)
		}
		if got := seen.EnvNamed("AWS_", "DB_", "BUCKET"); len(got) > 0 {
			t.Errorf("the runner's variables reached mongosh: %v", got)
		}
		n, err := r.dst.Client().Database("publisher_production").Collection("users").CountDocuments(context.Background(), bson.D{{Key: "email", Value: bson.D{{Key: "$ne", Value: "user@example.invalid"}}}})
		if err != nil || n != 0 {
			t.Errorf("%d unsanitised users (%v)", n, err)
		}
		if got, want := mongoSnapshot(t, r.dst, "publisher_production")["artefacts"], mongoSnapshot(t, r.src, "publisher_production")["artefacts"]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("artefacts differ after a sanitising restore")
		}
		assertNoMongoWorking(t, r.dst, "publisher_production")
	})
}

func dmap(d bson.D) map[string]any {
	m := map[string]any{}
	for _, e := range d {
		m[e.Key] = e.Value
	}
	return m
}

func gunzipBytes(t *testing.T, b []byte) *bytes.Reader {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(out)
}

func assertNoMongoWorking(t *testing.T, f *testenv.FerretDB, database string) {
	t.Helper()
	ctx := context.Background()
	dbs, err := f.Client().ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dbs {
		if d == "envsync_locks" {
			// Where restores hold their lease: it stays, empty of this one.
			if n, _ := f.Client().Database(d).Collection("restores").CountDocuments(ctx, bson.D{{Key: "_id", Value: database}}); n != 0 {
				t.Errorf("the restore lease of %s left behind", database)
			}
			continue
		}
		if strings.Contains(d, "envsync") {
			t.Errorf("database %s left behind", d)
		}
	}
	names, _ := f.Client().Database(database).ListCollectionNames(ctx, bson.D{})
	for _, n := range names {
		if strings.HasPrefix(n, "__envsync") {
			t.Errorf("collection %s left behind", n)
		}
	}
}

func TestTheEstatesAssetManagerScriptLeavesNoPersonalDataInARestoredCopy(t *testing.T) {
	r := &mongoRig{s3: testenv.StartS3(t), pgw: testenv.StartPushgateway(t), dst: testenv.StartFerretDB(t)}
	r.s3.CreateBucket(t, "dumps")
	r.path = filepath.Dir(testenv.Mongosh(t)) + string(os.PathListSeparator) + os.Getenv("PATH")
	const db = "govuk_assets_production"
	file := "2026-11-30T001300Z-" + db + ".gz"
	r.put(t, mongoInstance+"/"+file, fixture(t, file))
	personal := assetManagerPersonal(t, file)
	if len(personal) < 40 {
		t.Fatalf("only %d personal strings found in the fixture: the test proves little", len(personal))
	}
	// The script and the classification production's publish is given:
	// the personal-data gate passes the sanitised estate data.
	out := r.mustRun(t, r.dst, "restore", db, "SANITISE_SCRIPT=../syncs/sanitise/asset-manager.js",
		"CLASSIFICATION="+generatedClassification(t, "production", "asset-manager-documentdb"))
	if !strings.Contains(out, "personal-data gate passed") {
		t.Errorf("the restore did not run the personal-data gate:\n%s", out)
	}
	var leaks []string
	for _, c := range mongoSnapshotText(t, r.dst, db) {
		for s := range personal {
			if strings.Contains(c, s) {
				leaks = append(leaks, s)
			}
		}
	}
	if len(leaks) > 0 {
		t.Errorf("%d personal strings survive asset-manager.js, e.g. %q", len(leaks), leaks[0])
	}
	if n, _ := r.dst.Client().Database(db).Collection("assets").CountDocuments(context.Background(), bson.D{}); n < 10000 {
		t.Errorf("only %d assets left: the script removed more than personal data", n)
	}
}

// generatedClassification writes the classification make gen put in env's
// scripts ConfigMap for sync into a file, and returns its path.
func generatedClassification(t *testing.T, env, sync string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "out", env, "manifests", "configmap-sanitise-scripts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	c, ok := cm.Data[contract.ClassificationFile(sync)]
	if !ok {
		t.Fatalf("out/%s has no classification of %s: run make gen", env, sync)
	}
	p := filepath.Join(t.TempDir(), "classification.json")
	if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// assetManagerPersonal is the personal data the asset-manager fixture file
// holds, read from the archive itself: uploaders, e-mail addresses, users'
// names.
func assetManagerPersonal(t *testing.T, file string) map[string]bool {
	t.Helper()
	ar, err := archive.NewReader(gunzipBytes(t, fixture(t, file)))
	if err != nil {
		t.Fatal(err)
	}
	personal := map[string]bool{}
	for {
		i, doc, err := ar.Next()
		if err != nil {
			break
		}
		for _, field := range []string{"uploaded_by", "email", "name"} {
			if s, ok := doc.Lookup(field).StringValueOK(); ok && ar.Collections()[i].Name != "" && (field != "name" || ar.Collections()[i].Name == "users") {
				personal[s] = true
			}
		}
	}
	return personal
}

// mongoSnapshotText is every document of database as Extended JSON, one
// string per collection.
func mongoSnapshotText(t *testing.T, f *testenv.FerretDB, database string) []string {
	t.Helper()
	var out []string
	for _, docs := range f.Documents(t, database) {
		var b strings.Builder
		for _, d := range docs {
			j, _ := bson.MarshalExtJSON(d, false, false)
			b.Write(j)
		}
		out = append(out, b.String())
	}
	return out
}
