// Package engines is the one place the runner's engines are named, by the
// DB_ENGINE that chooses them, each under its kind. A new engine of an
// existing kind is its package and one line here.
package engines

import (
	"context"
	"fmt"
	"log/slog"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/opensearch-project/opensearch-go/v4/signer/awsv2"

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

// openSearch connects to the search cluster the run's settings name,
// signing its requests with the pod's AWS credentials when asked to.
func openSearch(cfg runner.Config, log *slog.Logger) (engine.SnapshotEngine, error) {
	c := opensearch.Config{
		Endpoint: cfg.DB.Host, Indices: cfg.DB.Database, Repository: cfg.SnapshotRepository,
		Keep: cfg.SnapshotsKeep, Instance: cfg.Instance, User: cfg.DB.User, Password: cfg.DB.Password, Log: log,
	}
	if cfg.SearchAuth == "aws" {
		aws, err := awsconfig.LoadDefaultConfig(context.Background())
		if err != nil {
			return nil, fmt.Errorf("SEARCH_AUTH=aws: the pod's AWS credentials: %w", err)
		}
		if aws.Region == "" {
			return nil, fmt.Errorf("SEARCH_AUTH=aws: no AWS region (AWS_REGION) to sign for")
		}
		if c.Signer, err = awsv2.NewSigner(aws); err != nil {
			return nil, err
		}
		c.User, c.Password = "", ""
	}
	return opensearch.New(c)
}
