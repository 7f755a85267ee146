package mongo

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/envsync/envsync/runner/gate"
)

// fieldSample is how many documents of each collection are read to find
// its fields: a document store declares none, so a field added upstream is
// found where the sample shows it.
const fieldSample = 1000

// gateDB is the personal-data gate's view of a database: its collections
// are the tables, their documents' top-level fields the columns.
type gateDB struct{ db *mongo.Database }

// Columns lists each collection's top-level fields, as a sample of its
// documents shows them (_id is the key, never personal by itself).
func (g gateDB) Columns(ctx context.Context) ([]gate.Column, error) {
	names, err := g.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var out []gate.Column
	for _, coll := range names {
		if strings.HasPrefix(coll, "system.") {
			continue
		}
		cur, err := g.db.Collection(coll).Find(ctx, bson.D{}, options.Find().SetLimit(fieldSample))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", coll, err)
		}
		seen := map[string]bool{}
		for cur.Next(ctx) {
			elems, err := cur.Current.Elements()
			if err != nil {
				cur.Close(ctx)
				return nil, err
			}
			for _, el := range elems {
				seen[el.Key()] = true
			}
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", coll, err)
		}
		for _, f := range slices.Sorted(maps.Keys(seen)) {
			out = append(out, gate.Column{Table: coll, Name: f, Text: f != "_id", From: coll})
		}
	}
	return out, nil
}

// Fingerprint reads the field of every document: the count of documents
// that have it and the sum of the 64-bit hashes of its values' encodings,
// independent of order.
func (g gateDB) Fingerprint(ctx context.Context, c gate.Column) (string, error) {
	cur, err := g.db.Collection(c.From).Find(ctx, bson.D{{Key: c.Name, Value: bson.D{{Key: "$exists", Value: true}}}},
		options.Find().SetProjection(bson.D{{Key: c.Name, Value: 1}, {Key: "_id", Value: 0}}))
	if err != nil {
		return "", err
	}
	defer cur.Close(ctx)
	var n, sum uint64
	for cur.Next(ctx) {
		v, err := cur.Current.LookupErr(c.Name)
		if err != nil {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte{byte(v.Type)})
		h.Write(v.Value)
		n++
		sum += h.Sum64()
	}
	return fmt.Sprintf("%d %d", n, sum), cur.Err()
}

// Sample reads up to n string values of the field.
func (g gateDB) Sample(ctx context.Context, c gate.Column, n int, f func(string)) error {
	cur, err := g.db.Collection(c.From).Find(ctx, bson.D{{Key: c.Name, Value: bson.D{{Key: "$type", Value: "string"}}}},
		options.Find().SetProjection(bson.D{{Key: c.Name, Value: 1}, {Key: "_id", Value: 0}}).SetLimit(int64(n)))
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if s, ok := cur.Current.Lookup(c.Name).StringValueOK(); ok {
			f(s)
		}
	}
	return cur.Err()
}

// Inspect gives the gate's view of the live database.
func (e *Engine) Inspect(ctx context.Context) (gate.DB, func(), error) {
	c, err := e.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	return gateDB{c.Database(e.cfg.Database)}, func() { c.Disconnect(context.Background()) }, nil
}
