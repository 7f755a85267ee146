// Package engines is the one place the runner's engines are named, by the
// DB_ENGINE that chooses them, each under its kind. A new engine of an
// existing kind is its package and one line here.
package engines

import (
	"log/slog"

	"github.com/envsync/envsync/runner"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/mongo"
	"github.com/envsync/envsync/runner/engine/mysql"
	"github.com/envsync/envsync/runner/engine/opensearch"
	"github.com/envsync/envsync/runner/engine/postgres"
)

// All are the engines envsync's runner knows.
var All = runner.Engines{
	Streaming: map[string]runner.EngineFactory{
		"postgres": postgres.New,
		"mysql":    mysql.New,
		"mongo":    mongo.New,
	},
	Snapshot: map[string]runner.SnapshotFactory{
		"opensearch": openSearch,
	},
}

// openSearch connects to the search cluster the run's settings name.
func openSearch(cfg runner.Config, log *slog.Logger) (engine.SnapshotEngine, error) {
	return opensearch.New(opensearch.Config{
		Endpoint: cfg.DB.Host, Indices: cfg.DB.Database, Repository: cfg.SnapshotRepository,
		Keep: cfg.SnapshotsKeep, Instance: cfg.Instance, User: cfg.DB.User, Password: cfg.DB.Password, Log: log,
	})
}
