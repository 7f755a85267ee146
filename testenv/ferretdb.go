package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// FerretDBVersion is the version hack/install-tools.sh builds.
const FerretDBVersion = "v1.24.2"

// MongoshVersion is the version hack/install-tools.sh installs.
const MongoshVersion = "2.12.0"

// FerretDB is a MongoDB-wire server (FerretDB v1) for one test, storing in
// its own PostgreSQL server. Clients authenticate with PLAIN (FerretDB v1
// has no SCRAM), and the credentials are checked by PostgreSQL: they are
// the PostgreSQL user's.
type FerretDB struct {
	Host     string
	Port     int
	User     string
	Password string
	Backend  *Postgres
	TLS      bool // sessions must be TLS
	proc     *Process
	client   *mongo.Client
}

// ToolsDir is where make tools puts the tools built or installed per
// version.
func ToolsDir() string {
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	return filepath.Join(string(trimNL(out)), "envsync-tools")
}

// Mongosh is the path of the mongosh that make tools installs.
func Mongosh(t T) string {
	t.Helper()
	return LookPath(t, "mongosh", "make tools (npm install mongosh@"+MongoshVersion+")",
		filepath.Join(ToolsDir(), "mongosh-"+MongoshVersion, "node_modules", ".bin"))
}

// FerretDBOptions change how a test server is started.
type FerretDBOptions struct {
	// TLS, when set, makes the server accept TLS sessions only, with this
	// certificate (as DocumentDB does by default).
	TLS *ServerCert
}

// StartFerretDB starts a PostgreSQL server and FerretDB on it.
func StartFerretDB(t T) *FerretDB { return StartFerretDBWith(t, FerretDBOptions{}) }

// StartFerretDBWith starts FerretDB with opts.
func StartFerretDBWith(t T, opts FerretDBOptions) *FerretDB {
	t.Helper()
	bin := toolBinary(t, "ferretdb", FerretDBVersion)
	pg := StartPostgres(t)
	pg.Exec(t, "postgres", "CREATE DATABASE ferretdb")
	f := &FerretDB{Host: "127.0.0.1", Port: FreePort(t), User: pg.User, Password: pg.Password, Backend: pg}
	addr := f.Host + ":" + strconv.Itoa(f.Port)
	args := []string{"-listen", addr, "-handler", "postgresql"}
	if opts.TLS != nil {
		args = []string{"-tls-listen", addr, "-tls-cert-file", opts.TLS.CertFile, "-tls-key-file", opts.TLS.KeyFile, "-handler", "postgresql"}
		f.TLS = true
	}
	cmd := exec.Command(bin, args...)
	// No credentials in the URL: FerretDB connects with each client's own.
	cmd.Env = append(os.Environ(), fmt.Sprintf("FERRETDB_POSTGRESQL_URL=postgres://%s/ferretdb?sslmode=disable", pg.Addr()))
	f.proc = Start(t, "ferretdb", cmd)
	WaitTCP(t, f.proc, addr, 30*time.Second)
	co := options.Client().ApplyURI(f.URI("")).SetAuth(f.Credential())
	if f.TLS {
		co.SetTLSConfig(&tls.Config{InsecureSkipVerify: true})
	}
	c, err := mongo.Connect(co)
	mustf(t, err, "connecting to ferretdb")
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	mustf(t, c.Ping(context.Background(), nil), "pinging ferretdb")
	f.client = c
	return f
}

// URI is the server's URI without credentials, on database (may be empty).
func (f *FerretDB) URI(database string) string {
	return fmt.Sprintf("mongodb://%s:%d/%s?directConnection=true", f.Host, f.Port, url.PathEscape(database))
}

// Credential is the test user's, for the PLAIN mechanism.
func (f *FerretDB) Credential() options.Credential {
	return options.Credential{AuthMechanism: "PLAIN", AuthSource: "$external", Username: f.User, Password: f.Password}
}

// Client is a connection for the test's own reads and writes.
func (f *FerretDB) Client() *mongo.Client { return f.client }

// Addr is host:port.
func (f *FerretDB) Addr() string { return fmt.Sprintf("%s:%d", f.Host, f.Port) }

// Documents returns every document of every collection of database,
// by collection.
func (f *FerretDB) Documents(t T, database string) map[string][]bson.Raw {
	t.Helper()
	ctx := context.Background()
	db := f.client.Database(database)
	names, err := db.ListCollectionNames(ctx, bson.D{})
	mustf(t, err, "listing the collections of %s", database)
	out := map[string][]bson.Raw{}
	for _, n := range names {
		cur, err := db.Collection(n).Find(ctx, bson.D{})
		mustf(t, err, "reading %s.%s", database, n)
		docs := []bson.Raw{}
		for cur.Next(ctx) {
			docs = append(docs, slices.Clone(cur.Current))
		}
		mustf(t, cur.Err(), "reading %s.%s", database, n)
		cur.Close(ctx)
		out[n] = docs
	}
	return out
}

// ContentChecksum is the Mongo fixtures' checksum of a collection's
// documents (shared/fixtures/mongo/README.md): each document as canonical
// Extended JSON, the lines sorted bytewise, each followed by a newline,
// SHA-256 in lowercase hex. It does not depend on the documents' order.
func ContentChecksum(t T, docs []bson.Raw) string {
	t.Helper()
	lines := make([][]byte, len(docs))
	for i, d := range docs {
		b, err := bson.MarshalExtJSON(d, true, false)
		mustf(t, err, "encoding a document as Extended JSON")
		lines[i] = b
	}
	slices.SortFunc(lines, bytes.Compare)
	h := sha256.New()
	for _, l := range lines {
		h.Write(l)
		h.Write([]byte("\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}
