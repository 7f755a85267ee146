// Package mongo is the MongoDB/DocumentDB engine of the runner, in Go with
// the official driver: no mongodump or mongorestore. Its dumps are
// mongodump archives (package archive), so that the old scripts' dumps
// restore and an operator can restore the runner's with
// mongorestore --archive. A restore loads into staging collections of the
// live database (through a shadow database when it sanitises, so that the
// script sees an ordinary database) and then swaps each collection in with
// renameCollection.
package mongo

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/mongo/archive"
)

// Engine dumps, restores and transforms one Mongo database.
type Engine struct {
	cfg    engine.Config
	log    *slog.Logger
	logTLS sync.Once
	// useTLS is decided by the first connection (prefer tries TLS first)
	// and kept for every later one, mongosh's included.
	useTLS bool
}

// New returns the Mongo engine for cfg.
func New(cfg engine.Config) (engine.Engine, error) {
	if cfg.Database == "" {
		return nil, errors.New("mongo: no database (DB_DATABASE) given")
	}
	if strings.ContainsAny(cfg.Database, `/\. "$`) || len(cfg.Database) > 63 {
		return nil, fmt.Errorf("mongo: %q is not a database name Mongo accepts (at most 63 characters, none of /\\. \"$)", cfg.Database)
	}
	if cfg.Host == "" {
		return nil, errors.New("mongo: no host (DB_HOST) given")
	}
	if cfg.Port == 0 {
		cfg.Port = 27017
	}
	return &Engine{cfg: cfg, log: cfg.Logger().With("engine", "mongo", "database", cfg.Database)}, nil
}

// uri is the server's address, without credentials: those go through the
// driver's options, never a string that could be logged.
func (e *Engine) uri() string {
	return fmt.Sprintf("mongodb://%s/?directConnection=true", hostPort(e.cfg.Host, e.cfg.Port))
}

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func (e *Engine) credential() *options.Credential {
	if e.cfg.User == "" {
		return nil
	}
	return &options.Credential{Username: e.cfg.User, Password: e.cfg.Password, AuthMechanism: e.cfg.AuthMechanism, AuthSource: e.authSource()}
}

// authSource is where the user is defined: PLAIN users live outside the
// server ($external); otherwise the driver's default.
func (e *Engine) authSource() string {
	if e.cfg.AuthMechanism == "PLAIN" {
		return "$external"
	}
	return ""
}

// connect opens a client and checks it with a ping. prefer tries TLS first
// and falls back to plaintext only when the server does not speak TLS.
func (e *Engine) connect(ctx context.Context) (*mongo.Client, error) {
	mode := e.cfg.TLS.Effective()
	useTLS := mode != engine.TLSDisable
	if mode == engine.TLSPrefer {
		useTLS = speaksTLS(ctx, hostPort(e.cfg.Host, e.cfg.Port))
	}
	c, version, err := e.dial(ctx, useTLS, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("mongo: connecting to %s as %q (sslmode %s): %s", hostPort(e.cfg.Host, e.cfg.Port), e.cfg.User, mode, e.redact(err.Error()))
	}
	e.useTLS = version != ""
	e.logProtection(version)
	return c, nil
}

// speaksTLS says whether the server at addr completes a TLS handshake:
// prefer's question, asked once, since the driver itself only retries a
// failing handshake until its server selection gives up.
func speaksTLS(ctx context.Context, addr string) bool {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// dial connects with or without TLS; version is the TLS version, or empty.
func (e *Engine) dial(ctx context.Context, useTLS bool, timeout time.Duration) (*mongo.Client, string, error) {
	// DocumentDB refuses retryable writes, which the driver uses by default.
	opts := options.Client().ApplyURI(e.uri()).SetServerSelectionTimeout(timeout).SetAppName("envsync").SetRetryWrites(false)
	if cred := e.credential(); cred != nil {
		opts.SetAuth(*cred)
	}
	var mu sync.Mutex
	version := ""
	if useTLS {
		tc, err := e.cfg.TLS.ClientConfig(e.cfg.Host)
		if err != nil {
			return nil, "", err
		}
		verify := tc.VerifyConnection
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			mu.Lock()
			version = tls.VersionName(cs.Version)
			mu.Unlock()
			if verify != nil {
				return verify(cs)
			}
			return nil
		}
		opts.SetTLSConfig(tc)
	}
	c, err := mongo.Connect(opts)
	if err != nil {
		return nil, "", err
	}
	if err := c.Ping(ctx, nil); err != nil {
		c.Disconnect(context.WithoutCancel(ctx))
		return nil, "", err
	}
	mu.Lock()
	defer mu.Unlock()
	return c, version, nil
}

func (e *Engine) logProtection(version string) {
	e.logTLS.Do(func() {
		protection := "plaintext"
		if version != "" {
			protection = "TLS " + version
		}
		e.log.Info("database sessions", "sslmode", e.cfg.TLS.Effective(), "protection", protection)
	})
}

func (e *Engine) redact(s string) string { return e.cfg.Redact(s) }

// collection is what a dump or a restore knows of one collection.
type collection struct {
	name     string
	metadata archive.Metadata
}

// collections lists the database's collections, views and system
// collections aside, with their options and indexes.
func (e *Engine) collections(ctx context.Context, db *mongo.Database) ([]collection, error) {
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("mongo: listing the collections of %s: %w", db.Name(), err)
	}
	var out []collection
	for _, s := range specs {
		if !isCollection(s) {
			e.log.Warn("not dumped: only collections are", "name", s.Name, "type", s.Type)
			continue
		}
		if strings.HasPrefix(s.Name, "system.") || isWorking(s.Name) {
			continue
		}
		md := archive.Metadata{CollectionName: s.Name, Type: "collection"}
		if len(s.Options) > 0 {
			if err := bson.Unmarshal(s.Options, &md.Options); err != nil {
				return nil, fmt.Errorf("mongo: options of %s: %w", s.Name, err)
			}
		}
		if s.UUID != nil {
			md.UUID = fmt.Sprintf("%x", s.UUID.Data)
		}
		cur, err := db.Collection(s.Name).Indexes().List(ctx)
		if err != nil {
			return nil, fmt.Errorf("mongo: listing the indexes of %s: %w", s.Name, err)
		}
		if err := cur.All(ctx, &md.Indexes); err != nil {
			return nil, fmt.Errorf("mongo: listing the indexes of %s: %w", s.Name, err)
		}
		out = append(out, collection{name: s.Name, metadata: md})
	}
	return out, nil
}

// Dump writes a mongodump archive of the live database to w, one
// collection after another.
func (e *Engine) Dump(ctx context.Context, w io.Writer) error {
	c, err := e.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	db := c.Database(e.cfg.Database)
	colls, err := e.collections(ctx, db)
	if err != nil {
		return err
	}
	var build struct {
		Version string `bson:"version"`
	}
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&build); err != nil {
		return fmt.Errorf("mongo: buildInfo: %w", err)
	}
	prelude := make([]archive.Collection, len(colls))
	for i, col := range colls {
		text, err := col.metadata.Text()
		if err != nil {
			return err
		}
		prelude[i] = archive.Collection{DB: e.cfg.Database, Name: col.name, Metadata: text, Type: "collection"}
	}
	// concurrent_collections is mongorestore's parallelism for this archive.
	aw, err := archive.NewWriter(w, archive.Header{ConcurrentCollections: 1, Version: "0.1", ServerVersion: build.Version, ToolVersion: "envsync"}, prelude)
	if err != nil {
		return fmt.Errorf("mongo: writing the archive: %w", err)
	}
	e.log.Info("dumping", "collections", len(colls))
	for i, col := range colls {
		cur, err := db.Collection(col.name).Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
		if err != nil {
			return fmt.Errorf("mongo: reading %s: %w", col.name, err)
		}
		for cur.Next(ctx) {
			if err := aw.Write(i, cur.Current); err != nil {
				cur.Close(ctx)
				return fmt.Errorf("mongo: writing the archive: %w", err)
			}
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return fmt.Errorf("mongo: reading %s: %w", col.name, err)
		}
		if err := aw.End(i); err != nil {
			return fmt.Errorf("mongo: writing the archive: %w", err)
		}
	}
	return aw.Close()
}

// Check reads a whole archive: magic, prelude, every block, every CRC and
// every collection's end. It touches no database.
func (e *Engine) Check(ctx context.Context, r io.Reader) error {
	ar, err := archive.NewReader(r)
	if err != nil {
		return fmt.Errorf("mongo: %w", err)
	}
	for {
		if _, _, err := ar.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("mongo: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Transform runs script with mongosh on the live database; it stops at the
// first error. Mongo has no transaction here: what ran before the error
// stays.
func (e *Engine) Transform(ctx context.Context, script string) error {
	c, err := e.connect(ctx)
	if err != nil {
		return err
	}
	c.Disconnect(context.WithoutCancel(ctx))
	if err := e.runScript(ctx, e.cfg.Database, script); err != nil {
		return fmt.Errorf("mongo: transform of %s: %w", e.cfg.Database, err)
	}
	return nil
}
