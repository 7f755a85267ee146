package mongo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Mongo has no lock that dies with its session, as PostgreSQL's advisory
// locks and MySQL's named locks do, so one restore of a database at a time
// is a lease: a document per live database in envsync_locks.restores,
// held by the run's pod name and renewed while the restore runs. A second
// run refuses while the lease is current; a run killed without releasing
// it leaves it to expire, or to be taken over by the same pod name (a
// rerun of the same job run). The runner's user needs readWrite on
// envsync_locks, as it needs to create the shadow database.
const (
	lockDatabase   = "envsync_locks"
	lockCollection = "restores"
	lease          = 2 * time.Minute
)

// lockRestore takes the lease of live's restore; release gives it back.
func (e *Engine) lockRestore(ctx context.Context, c *mongo.Client, live string) (release func(), err error) {
	holder := e.cfg.Holder
	if holder == "" {
		b := make([]byte, 8)
		rand.Read(b)
		holder = "envsync-" + hex.EncodeToString(b)
	}
	locks := c.Database(lockDatabase).Collection(lockCollection)
	until := func() time.Time { return time.Now().Add(lease).UTC().Truncate(time.Millisecond) }
	_, err = locks.InsertOne(ctx, bson.D{{Key: "_id", Value: live}, {Key: "holder", Value: holder}, {Key: "until", Value: until()}})
	if mongo.IsDuplicateKeyError(err) {
		// Held: take it over if it expired, or if it is this pod's own.
		res, uerr := locks.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: live}, {Key: "$or", Value: bson.A{
				bson.D{{Key: "until", Value: bson.D{{Key: "$lt", Value: time.Now().UTC()}}}},
				bson.D{{Key: "holder", Value: holder}},
			}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "holder", Value: holder}, {Key: "until", Value: until()}}}})
		err = uerr
		if err == nil && res.MatchedCount == 0 {
			var cur struct {
				Holder string    `bson:"holder"`
				Until  time.Time `bson:"until"`
			}
			locks.FindOne(ctx, bson.D{{Key: "_id", Value: live}}).Decode(&cur)
			return nil, fmt.Errorf("mongo: another restore of %s is running (%s holds it until %s)", live, cur.Holder, cur.Until.Format(time.RFC3339))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: taking the restore lease in %s.%s: %w", lockDatabase, lockCollection, err)
	}
	e.log.Info("holding the restore lease", "database", live, "holder", holder)

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(lease / 4)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lease/4)
				_, err := locks.UpdateOne(rctx, bson.D{{Key: "_id", Value: live}, {Key: "holder", Value: holder}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: until()}}}})
				cancel()
				if err != nil {
					e.log.Warn("could not renew the restore lease", "error", err)
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := locks.DeleteOne(rctx, bson.D{{Key: "_id", Value: live}, {Key: "holder", Value: holder}}); err != nil {
			e.log.Warn("could not give the restore lease back; it expires on its own", "error", err)
		}
	}, nil
}
