package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engine/mongo/archive"
	"github.com/envsync/envsync/runner/engine/testpause"
)

// Names of the restore's working collections in the live database, and of
// its shadow database. DocumentDB and FerretDB rename collections only
// within one database, so the new copy is staged beside live.
const (
	newPrefix    = "__envsync_new__"
	oldPrefix    = "__envsync_old__"
	shadowSuffix = "__envsync_shadow"
)

func isWorking(name string) bool {
	return strings.HasPrefix(name, newPrefix) || strings.HasPrefix(name, oldPrefix)
}

// ShadowName is the database a sanitising restore loads and sanitises.
func ShadowName(live string) string { return live + shadowSuffix }

// batchBytes bounds one insertMany: the memory a restore holds per
// collection being loaded. 4 MiB loads as fast as 8 MiB (128 MiB bench:
// 14.5 s against 14.2 s, within noise) with a peak RSS of 86 MiB instead
// of 96 MiB.
const batchBytes = 4 << 20

// Restore loads the archive into a new copy, sanitises it and swaps it in.
//
// Without a sanitise script the archive loads straight into staging
// collections of the live database (__envsync_new__<name>). With one it
// loads into the shadow database <db>__envsync_shadow, where the script
// runs with db pointing there (it cannot reach live: CheckScript), and the
// sanitised copy is then staged beside live. Indexes are built after the
// data. Only when the whole archive has been read, every CRC matched, the
// script succeeded and BeforeSwap agreed does anything of live change.
//
// The swap renames each staged collection over its live one. Servers that
// accept renameCollection with dropTarget (MongoDB, DocumentDB) replace
// each collection atomically. FerretDB v1 does not: there each collection
// is renamed aside, then the new one in, and is absent for the instant
// between the two renames. Either way every live collection is, at every
// instant, the complete old copy or the complete new one (or, on FerretDB,
// briefly absent), never partial and never unsanitised; live collections
// that the dump does not hold are removed; when the swap ends, the live
// database is exactly the dump's collections. A run killed part-way is
// cleaned up by the next: staged copies dropped, a collection renamed
// aside but not replaced put back.
func (e *Engine) Restore(ctx context.Context, r io.Reader, opts engine.RestoreOptions) error {
	// Refuse what is not an archive before touching anything.
	ar, err := archive.NewReader(r)
	if err != nil {
		return fmt.Errorf("mongo: %w", err)
	}
	if opts.SanitiseScript != "" {
		if err := CheckScript(opts.SanitiseScript); err != nil {
			return fmt.Errorf("mongo: sanitise script: %w", err)
		}
	}
	c, err := e.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	// One restore of a database at a time: a second one's clean-up would
	// drop the first one's staged collections.
	release, err := e.lockRestore(ctx, c, e.cfg.Database)
	if err != nil {
		return err
	}
	defer release()
	live := c.Database(e.cfg.Database)
	shadow := c.Database(ShadowName(e.cfg.Database))
	if err := e.cleanUp(ctx, live, shadow); err != nil {
		return err
	}
	// Whatever fails from here leaves live as it was and nothing beside it.
	ok := false
	defer func() {
		if !ok {
			// A swap cut short leaves collections renamed aside: put them back.
			if err := e.cleanUp(context.WithoutCancel(ctx), live, shadow); err != nil {
				e.log.Warn("cleaning up after the failed restore; the next run finishes it", "error", err)
			}
		}
	}()

	target, prefix := live, newPrefix
	if opts.SanitiseScript != "" {
		target, prefix = shadow, ""
	}
	if err := e.load(ctx, ar, target, prefix); err != nil {
		return err
	}
	if err := e.checkRows(ctx, opts.Rows, target, prefix); err != nil {
		return err
	}
	if opts.SanitiseScript != "" {
		if g := opts.Gate; g != nil {
			if err := g.Before(ctx, gateDB{shadow}); err != nil {
				return fmt.Errorf("mongo: %s (live untouched): %w", e.cfg.Database, err)
			}
		}
		if err := e.runScript(ctx, shadow.Name(), opts.SanitiseScript); err != nil {
			return fmt.Errorf("mongo: sanitise script on the shadow %s (live untouched): %w", shadow.Name(), err)
		}
		if g := opts.Gate; g != nil {
			if err := g.After(ctx, gateDB{shadow}); err != nil {
				return fmt.Errorf("mongo: %s (live untouched): %w", e.cfg.Database, err)
			}
			e.log.Info("personal-data gate passed", "columns_checked", g.Checked, "findings", g.Findings)
		}
		testpause.At("sanitise")
		if err := e.stage(ctx, shadow, live); err != nil {
			return err
		}
		if err := shadow.Drop(ctx); err != nil {
			return fmt.Errorf("mongo: dropping the shadow: %w", err)
		}
	}
	if opts.BeforeSwap != nil {
		if err := opts.BeforeSwap(); err != nil {
			return err
		}
	}
	testpause.At("swap")
	if err := e.swap(ctx, live); err != nil {
		return err
	}
	ok = true
	return nil
}

// load reads the whole archive into target, each collection under prefix +
// its name, and builds the indexes.
func (e *Engine) load(ctx context.Context, ar *archive.Reader, target *mongo.Database, prefix string) error {
	colls := ar.Collections()
	names := make([]string, len(colls))
	metas := make([]archive.Metadata, len(colls))
	for i, col := range colls {
		md, err := archive.ParseMetadata(col.Metadata)
		if err != nil {
			return fmt.Errorf("mongo: %s: %w", col.Name, err)
		}
		names[i], metas[i] = col.Name, md
		if err := createCollection(ctx, target, prefix+col.Name, md); err != nil {
			return err
		}
	}
	e.log.Info("loading", "into", target.Name(), "collections", len(colls))
	batches := make([]batch, len(colls))
	var held int
	for {
		i, doc, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("mongo: the dump is damaged; nothing of live was touched: %w", err)
		}
		batches[i].add(doc)
		held += len(doc)
		if batches[i].size >= batchBytes || held >= 2*batchBytes {
			// Flush the largest: memory stays bounded even when many
			// collections interleave.
			j := largest(batches)
			held -= batches[j].size
			if err := batches[j].flush(ctx, target.Collection(prefix+names[j])); err != nil {
				return fmt.Errorf("mongo: loading %s: %w", names[j], err)
			}
		}
	}
	for i := range batches {
		if err := batches[i].flush(ctx, target.Collection(prefix+names[i])); err != nil {
			return fmt.Errorf("mongo: loading %s: %w", names[i], err)
		}
	}
	testpause.At("restore")
	for i, md := range metas {
		if err := createIndexes(ctx, target.Collection(prefix+names[i]), md.Indexes); err != nil {
			return fmt.Errorf("mongo: indexes of %s: %w", names[i], err)
		}
	}
	return nil
}

// batch holds documents for one insertMany.
type batch struct {
	docs []any
	size int
}

func (b *batch) add(doc bson.Raw) {
	b.docs = append(b.docs, slices.Clone(doc)) // the reader reuses its buffer
	b.size += len(doc)
}

func (b *batch) flush(ctx context.Context, coll *mongo.Collection) error {
	if len(b.docs) == 0 {
		return nil
	}
	// Raw documents go to the server byte for byte, in the archive's order.
	_, err := coll.InsertMany(ctx, b.docs, options.InsertMany().SetOrdered(true).SetBypassDocumentValidation(true))
	clear(b.docs)
	b.docs, b.size = b.docs[:0], 0
	return err
}

func largest(bs []batch) int {
	j := 0
	for i := range bs {
		if bs[i].size > bs[j].size {
			j = i
		}
	}
	return j
}

// createCollection creates name with the dump's options (capped, size,
// max, validator...).
func createCollection(ctx context.Context, db *mongo.Database, name string, md archive.Metadata) error {
	cmd := bson.D{{Key: "create", Value: name}}
	for _, o := range md.Options {
		if o.Key == "uuid" {
			continue
		}
		cmd = append(cmd, o)
	}
	if err := db.RunCommand(ctx, cmd).Err(); err != nil {
		return fmt.Errorf("mongo: creating %s.%s: %w", db.Name(), name, err)
	}
	return nil
}

// createIndexes builds the dump's indexes but _id_, without the fields a
// server refuses from another (ns, v).
func createIndexes(ctx context.Context, coll *mongo.Collection, specs []bson.D) error {
	var indexes bson.A
	for _, spec := range specs {
		var out bson.D
		name := ""
		for _, f := range spec {
			switch f.Key {
			case "ns", "v", "background":
				continue
			case "name":
				name, _ = f.Value.(string)
			}
			out = append(out, f)
		}
		if name == "_id_" {
			continue
		}
		indexes = append(indexes, out)
	}
	if len(indexes) == 0 {
		return nil
	}
	return coll.Database().RunCommand(ctx, bson.D{{Key: "createIndexes", Value: coll.Name()}, {Key: "indexes", Value: indexes}}).Err()
}

// stage copies the sanitised shadow's collections, with their options and
// indexes, into staging collections beside live.
func (e *Engine) stage(ctx context.Context, shadow, live *mongo.Database) error {
	colls, err := e.collections(ctx, shadow)
	if err != nil {
		return err
	}
	e.log.Info("staging the sanitised copy beside live", "collections", len(colls))
	for _, col := range colls {
		if err := createCollection(ctx, live, newPrefix+col.name, col.metadata); err != nil {
			return err
		}
		cur, err := shadow.Collection(col.name).Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
		if err != nil {
			return fmt.Errorf("mongo: reading the shadow's %s: %w", col.name, err)
		}
		var b batch
		dst := live.Collection(newPrefix + col.name)
		for cur.Next(ctx) {
			b.add(cur.Current)
			if b.size >= batchBytes {
				if err := b.flush(ctx, dst); err != nil {
					cur.Close(ctx)
					return fmt.Errorf("mongo: staging %s: %w", col.name, err)
				}
			}
		}
		err = cur.Err()
		cur.Close(ctx)
		if err == nil {
			err = b.flush(ctx, dst)
		}
		if err != nil {
			return fmt.Errorf("mongo: staging %s: %w", col.name, err)
		}
		if err := createIndexes(ctx, dst, col.metadata.Indexes); err != nil {
			return fmt.Errorf("mongo: indexes of %s: %w", col.name, err)
		}
	}
	return nil
}

// swap puts every staged collection in place of its live one and removes
// live collections the new copy does not have.
func (e *Engine) swap(ctx context.Context, live *mongo.Database) error {
	existing, err := collectionNames(ctx, live)
	if err != nil {
		return fmt.Errorf("mongo: listing live's collections: %w", err)
	}
	var staged []string
	for _, n := range existing {
		if s, ok := strings.CutPrefix(n, newPrefix); ok {
			staged = append(staged, s)
		}
	}
	slices.Sort(staged)
	e.log.Info("swapping", "collections", len(staged))
	dropTarget := true
	for _, name := range staged {
		if dropTarget {
			err := rename(ctx, live, newPrefix+name, name, true)
			if err == nil {
				continue
			}
			if !unsupported(err) {
				return fmt.Errorf("mongo: swapping %s in: %w", name, err)
			}
			// FerretDB v1: two renames from here on.
			dropTarget = false
			e.log.Info("the server cannot rename over a collection; each is renamed aside, then the new one in")
		}
		if slices.Contains(existing, name) {
			if err := rename(ctx, live, name, oldPrefix+name, false); err != nil {
				return fmt.Errorf("mongo: renaming %s aside: %w", name, err)
			}
			testpause.At("mid-swap")
		}
		if err := rename(ctx, live, newPrefix+name, name, false); err != nil {
			return fmt.Errorf("mongo: swapping %s in: %w", name, err)
		}
	}
	for _, n := range existing {
		if isWorking(n) || strings.HasPrefix(n, "system.") || slices.Contains(staged, n) {
			continue
		}
		e.log.Info("removing a live collection the dump does not have", "collection", n)
		if err := rename(ctx, live, n, oldPrefix+n, false); err != nil {
			return fmt.Errorf("mongo: removing %s: %w", n, err)
		}
	}
	return e.dropPrefixed(ctx, live, oldPrefix)
}

// collectionNames lists db's collections, views aside: a view cannot be
// renamed, and a restore neither stages nor removes one.
func collectionNames(ctx context.Context, db *mongo.Database) ([]string, error) {
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range specs {
		if isCollection(s) {
			names = append(names, s.Name)
		}
	}
	return names, nil
}

// isCollection says whether a listed name is a collection, not a view.
func isCollection(s mongo.CollectionSpecification) bool {
	return s.Type == "" || s.Type == "collection"
}

func rename(ctx context.Context, db *mongo.Database, from, to string, dropTarget bool) error {
	cmd := bson.D{{Key: "renameCollection", Value: db.Name() + "." + from}, {Key: "to", Value: db.Name() + "." + to}}
	if dropTarget {
		cmd = append(cmd, bson.E{Key: "dropTarget", Value: true})
	}
	return db.Client().Database("admin").RunCommand(ctx, cmd).Err()
}

// unsupported says whether the server refused an option it does not
// implement (FerretDB v1's dropTarget), rather than the rename itself.
func unsupported(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.Code == 238 /* NotImplemented */ || ce.Code == 115 /* CommandNotSupported */ || strings.Contains(ce.Message, "dropTarget")
	}
	return false
}

// cleanUp undoes what a killed run left: the shadow and staged copies are
// dropped; a collection renamed aside whose replacement never came is put
// back, and one that was replaced is dropped.
func (e *Engine) cleanUp(ctx context.Context, live, shadow *mongo.Database) error {
	names, err := collectionNames(ctx, live)
	if err != nil {
		return fmt.Errorf("mongo: listing live's collections: %w", err)
	}
	for _, n := range names {
		name, ok := strings.CutPrefix(n, oldPrefix)
		if !ok {
			continue
		}
		if slices.Contains(names, name) {
			continue // replaced: dropped below
		}
		e.log.Warn("an earlier restore was killed during its swap: putting the old collection back", "collection", name)
		if err := rename(ctx, live, n, name, false); err != nil {
			return fmt.Errorf("mongo: putting %s back: %w", name, err)
		}
	}
	e.dropWorking(ctx, live, shadow)
	return nil
}

// dropWorking drops the shadow database and every working collection.
func (e *Engine) dropWorking(ctx context.Context, live, shadow *mongo.Database) {
	if err := shadow.Drop(ctx); err != nil {
		e.log.Warn("could not drop the shadow", "database", shadow.Name(), "error", err)
	}
	for _, p := range []string{newPrefix, oldPrefix} {
		if err := e.dropPrefixed(ctx, live, p); err != nil {
			e.log.Warn("could not drop working collections", "error", err)
		}
	}
}

func (e *Engine) dropPrefixed(ctx context.Context, db *mongo.Database, prefix string) error {
	names, err := collectionNames(ctx, db)
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			if err := db.Collection(n).Drop(ctx); err != nil {
				return fmt.Errorf("mongo: dropping %s: %w", n, err)
			}
		}
	}
	return nil
}
