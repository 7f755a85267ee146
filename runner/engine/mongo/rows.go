package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/mongo/archive"
)

// CountRows reads a mongodump archive (what Dump writes) and counts the
// documents of each collection (a view has none of its own).
func (e *Engine) CountRows(r io.Reader) (map[string]int64, error) {
	ar, err := archive.NewReader(r)
	if err != nil {
		return nil, err
	}
	for {
		if _, _, err := ar.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("mongo: reading the archive: %w", err)
		}
	}
	rows := map[string]int64{}
	for i, c := range ar.Collections() {
		if c.Type == "view" {
			continue // a view holds no documents of its own
		}
		rows[c.Name] = ar.Count(i)
	}
	return rows, nil
}

// checkRows holds the collections loaded into db (named with prefix) to
// the documents the backup dumped.
func (e *Engine) checkRows(ctx context.Context, want map[string]int64, db *mongo.Database, prefix string) error {
	if len(want) == 0 {
		return nil
	}
	count := func(ctx context.Context, coll string) (int64, error) {
		return db.Collection(prefix+coll).CountDocuments(ctx, bson.D{})
	}
	if err := engine.CheckRows(ctx, want, count); err != nil {
		return fmt.Errorf("mongo: %s (live untouched): %w", e.cfg.Database, err)
	}
	e.log.Info("the loaded copy holds every document the backup dumped", "collections", len(want))
	return nil
}
