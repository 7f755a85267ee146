// Command ferretdb is the MongoDB-wire test server of envsync's tests:
// FerretDB v1 embedded through its ferretdb package (its own cmd/ferretdb
// checks a version file that a module build does not have). It is a module
// of its own, so that FerretDB's dependencies stay out of envsync's go.mod;
// hack/install-tools.sh builds it once per version.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", "", "SQLite directory URL, e.g. file:/tmp/data/")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL (taken from FERRETDB_POSTGRESQL_URL when empty, so that its password stays out of argv)")
	tlsListen := flag.String("tls-listen", "", "TLS address to listen on instead of -listen")
	tlsCert := flag.String("tls-cert-file", "", "server certificate (PEM)")
	tlsKey := flag.String("tls-key-file", "", "server key (PEM)")
	flag.Parse()
	if *postgresURL == "" {
		*postgresURL = os.Getenv("FERRETDB_POSTGRESQL_URL")
	}

	lc := ferretdb.ListenerConfig{TCP: *listen}
	if *tlsListen != "" {
		lc = ferretdb.ListenerConfig{TLS: *tlsListen, TLSCertFile: *tlsCert, TLSKeyFile: *tlsKey}
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      lc,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *postgresURL,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintln(os.Stderr, "ferretdb listening:", f.MongoDBURI())
	if err := f.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
