package runner_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/envsync/envsync/testenv"
)

func mongoBenchBytes() int64 {
	if v, err := strconv.ParseInt(os.Getenv("ENVSYNC_BENCH_MONGO_MIB"), 10, 64); err == nil && v > 0 {
		return v << 20
	}
	return 1 << 30
}

// BenchmarkMongoAgainstTheDriver runs, against the same FerretDB servers
// and S3 server, envsync backup beside the limit of reading every document
// with the driver and discarding it, and envsync restore beside inserting
// the same documents with the driver in 8 MiB batches, on a generated
// database of 1 GiB of documents (ENVSYNC_BENCH_MONGO_MIB to change it). It
// reports the wall-time and CPU-time ratios, CPU-seconds per GiB of BSON of
// each and the runner's peak resident memory.
func BenchmarkMongoAgainstTheDriver(b *testing.B) {
	const db = "bench_production"
	src, dst := testenv.StartFerretDB(b), testenv.StartFerretDB(b)
	s3srv := testenv.StartS3(b)
	bucket := s3srv.CreateBucket(b, "mongo-bench")
	bin := envsyncBinary(b)
	ctx := context.Background()

	gen := time.Now()
	docs, size := generateMongoBench(b, src.Client().Database(db), mongoBenchBytes())
	b.Logf("generated %s: %d documents, %d MiB of BSON in %s", db, docs, size>>20, time.Since(gen).Round(time.Second))

	env := func(f *testenv.FerretDB) []string {
		return append(append(os.Environ(), s3srv.Env()...),
			"DB_ENGINE=mongo", "DB_HOST="+f.Host, "DB_PORT="+strconv.Itoa(f.Port),
			"DB_USER="+f.User, "DB_PASSWORD="+f.Password, "DB_AUTH_MECHANISM=PLAIN", "DB_DATABASE="+db,
			"DB_INSTANCE=bench-documentdb", "BUCKET="+s3srv.URL(bucket), "ENVIRONMENT=staging")
	}

	b.ResetTimer()
	for range b.N {
		dst.Client().Database(db).Drop(ctx)
		dst.Client().Database("baseline").Drop(ctx)

		var read int64
		readLimit := measureHere(func() { read = readAllDocuments(b, src.Client().Database(db)) })
		envBackup := measure(b, env(src), bin, "run", "backup")

		// The insert limit reads the documents from local files, not from
		// the server: FerretDB's reads are the slow part of a copy.
		files := saveDocuments(b, src.Client().Database(db))
		insertLimit := measureHere(func() { insertWithDriver(b, files, dst.Client().Database("baseline")) })
		envRestore := measure(b, env(dst), bin, "run", "restore")
		b.Log("where the restore's time goes: " + timeline(envRestore.out))

		b.Logf("backup: envsync %s (peak RSS %d MiB); driver reads %d MiB and discards them in %s",
			envBackup.wall.Round(time.Millisecond), envBackup.peak>>20, read>>20, readLimit.wall.Round(time.Millisecond))
		b.Logf("restore: envsync %s (peak RSS %d MiB, one pass); driver inserts the same documents from local files in 8 MiB batches in %s",
			envRestore.wall.Round(time.Millisecond), envRestore.peak>>20, insertLimit.wall.Round(time.Millisecond))
		b.ReportMetric(envBackup.wall.Seconds()/readLimit.wall.Seconds(), "backup-time/driver-read")
		b.ReportMetric(envRestore.wall.Seconds()/insertLimit.wall.Seconds(), "restore-time/driver-insert")
		b.ReportMetric(envBackup.cpu.Seconds()/readLimit.cpu.Seconds(), "backup-cpu/driver-read")
		b.ReportMetric(envRestore.cpu.Seconds()/insertLimit.cpu.Seconds(), "restore-cpu/driver-insert")
		envBackup.report(b, "envsync-backup", size)
		readLimit.report(b, "driver-read", size)
		envRestore.report(b, "envsync-restore", size)
		insertLimit.report(b, "driver-insert", size)
		b.ReportMetric(float64(max(envBackup.peak, envRestore.peak))/(1<<20), "peak-RSS-MiB")
	}
}

// generateMongoBench fills db with documents of about 1 KiB (an id, numbers,
// a title, a body of hex words that compresses about 2:1, tags, a date) in
// two collections, until want bytes of BSON; it returns the count and size.
func generateMongoBench(b *testing.B, db *mongo.Database, want int64) (int, int64) {
	b.Helper()
	ctx := context.Background()
	var n int
	var size int64
	for size < want {
		batch := make([]any, 0, 2000)
		for range 2000 {
			raw := make([]byte, 360)
			rand.Read(raw)
			doc, err := bson.Marshal(bson.D{
				{Key: "_id", Value: bson.NewObjectID()}, {Key: "n", Value: int64(n)}, {Key: "score", Value: float64(n) / 7},
				{Key: "title", Value: fmt.Sprintf("Edition %d of a guidance page", n)},
				{Key: "body", Value: hex.EncodeToString(raw)},
				{Key: "tags", Value: bson.A{"guidance", "tax", fmt.Sprintf("t%d", n%97)}},
				{Key: "created_at", Value: time.Unix(int64(1_600_000_000+n), 0).UTC()},
			})
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, bson.Raw(doc))
			size += int64(len(doc))
			n++
		}
		coll := []string{"editions", "artefacts"}[n/2000%2]
		if _, err := db.Collection(coll).InsertMany(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []string{"editions", "artefacts"} {
		if _, err := db.Collection(c).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "n", Value: 1}}}); err != nil {
			b.Fatal(err)
		}
	}
	return n, size
}

// readAllDocuments reads every document of db and returns their bytes.
func readAllDocuments(b *testing.B, db *mongo.Database) int64 {
	b.Helper()
	ctx := context.Background()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, n := range names {
		cur, err := db.Collection(n).Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
		if err != nil {
			b.Fatal(err)
		}
		for cur.Next(ctx) {
			total += int64(len(cur.Current))
		}
		cur.Close(ctx)
	}
	return total
}

// saveDocuments writes each collection's documents to a file of
// concatenated BSON (self-delimiting) and returns collection -> file.
func saveDocuments(b *testing.B, db *mongo.Database) map[string]string {
	b.Helper()
	ctx := context.Background()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		b.Fatal(err)
	}
	files := map[string]string{}
	for _, n := range names {
		f, err := os.CreateTemp(b.TempDir(), n+"-*.bson")
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		cur, err := db.Collection(n).Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
		if err != nil {
			b.Fatal(err)
		}
		for cur.Next(ctx) {
			w.Write(cur.Current)
		}
		cur.Close(ctx)
		if err := errors.Join(w.Flush(), f.Close()); err != nil {
			b.Fatal(err)
		}
		files[n] = f.Name()
	}
	return files
}

// insertWithDriver inserts each file's documents into its collection of
// dst in batches of 8 MiB, as a program using only the driver would.
func insertWithDriver(b *testing.B, files map[string]string, dst *mongo.Database) {
	b.Helper()
	ctx := context.Background()
	for coll, path := range files {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReaderSize(f, 1<<20)
		var batch []any
		size := 0
		flush := func() {
			if len(batch) > 0 {
				if _, err := dst.Collection(coll).InsertMany(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			batch, size = batch[:0], 0
		}
		for {
			var l [4]byte
			if _, err := io.ReadFull(r, l[:]); err != nil {
				break
			}
			doc := make([]byte, binary.LittleEndian.Uint32(l[:]))
			copy(doc, l[:])
			if _, err := io.ReadFull(r, doc[4:]); err != nil {
				b.Fatal(err)
			}
			batch = append(batch, bson.Raw(doc))
			if size += len(doc); size >= 8<<20 {
				flush()
			}
		}
		flush()
		f.Close()
	}
}
