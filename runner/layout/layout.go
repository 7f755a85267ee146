// Package layout names the objects a bucket holds (docs/contracts.md):
//
//	<instance>/<YYYY-MM-DDTHHMMSSZ>-<database>.<ext>   a dump
//	<instance>/<...>.<ext>.sha256                       its SHA-256 (sha256sum format)
//	<instance>/latest-<database>.txt                    the key of the newest complete dump
//
// and chooses which dump a restore reads.
package layout

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/envsync/envsync/runner/storage"
)

// TimeFormat is the timestamp in dump keys, always UTC.
const TimeFormat = "2006-01-02T150405Z"

// ChecksumSuffix is appended to a dump's key to name its checksum sidecar.
const ChecksumSuffix = ".sha256"

// DumpKey names a new dump of database taken at t.
func DumpKey(instance, database string, t time.Time, ext string) string {
	return instance + "/" + t.UTC().Format(TimeFormat) + "-" + database + "." + ext
}

// PointerKey names the object that holds the key of the newest complete dump.
func PointerKey(instance, database string) string {
	return instance + "/latest-" + database + ".txt"
}

// ChecksumKey names the sidecar holding the SHA-256 of the dump at key.
func ChecksumKey(key string) string { return key + ChecksumSuffix }

// RowsSuffix ends the key of the JSON beside a dump holding its rows per
// table, counted as the backup streamed it.
const RowsSuffix = ".rows.json"

// RowsKey names the row counts of the dump at key.
func RowsKey(key string) string { return key + RowsSuffix }

// RecordedRows reads the row counts beside the dump at key; nil when there
// are none (a dump of the old scripts, of an engine that counts none, or
// one whose rows could not be counted).
func RecordedRows(ctx context.Context, st storage.Store, key string) (map[string]int64, error) {
	rc, err := st.Get(ctx, RowsKey(key))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var rows map[string]int64
	if err := json.NewDecoder(rc).Decode(&rows); err != nil {
		return nil, fmt.Errorf("reading %s: %w", RowsKey(key), err)
	}
	return rows, nil
}

// PinSuffix ends the key of a pin: an object beside a dump, holding the
// reason an operator gave, that keeps retention from removing the dump.
const PinSuffix = ".pin"

// PinKey names the pin of the dump at key.
func PinKey(key string) string { return key + PinSuffix }

// RecordedSum reads the SHA-256 in the checksum sidecar of key (sha256sum's
// format); "" when there is no sidecar, as for the old scripts' dumps.
func RecordedSum(ctx context.Context, st storage.Store, key string) (string, error) {
	rc, err := st.Get(ctx, ChecksumKey(key))
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", ChecksumKey(key), err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 || len(fields[0]) != 64 {
		return "", fmt.Errorf("%s does not hold a SHA-256: %q", ChecksumKey(key), strings.TrimSpace(string(b)))
	}
	return strings.ToLower(fields[0]), nil
}

// Dump is a parsed dump key.
type Dump struct {
	Key      string
	Instance string
	Time     time.Time
	Database string
	Ext      string // "pgdump.zst", "gz", ...: informational, restore reads magic bytes
}

// Parse reads a dump key. Sidecars and pointers are not dumps.
func Parse(key string) (Dump, error) {
	dir, base := path.Split(key)
	bad := func(why string) (Dump, error) {
		return Dump{}, fmt.Errorf("object key %q is not <instance>/<%s>-<database>.<ext>: %s", key, TimeFormat, why)
	}
	if strings.HasSuffix(base, ChecksumSuffix) {
		return bad("it is a checksum sidecar")
	}
	if strings.HasSuffix(base, PinSuffix) {
		return bad("it is a pin")
	}
	if strings.HasSuffix(base, RowsSuffix) {
		return bad("it is a dump's row counts")
	}
	if len(base) < len(TimeFormat)+3 || base[len(TimeFormat)] != '-' {
		return bad("no timestamp prefix")
	}
	t, err := time.Parse(TimeFormat, base[:len(TimeFormat)])
	if err != nil {
		return bad("bad timestamp")
	}
	rest := base[len(TimeFormat)+1:]
	ext := extension(rest)
	if ext == "" {
		return bad("no extension of a dump (" + strings.Join(Extensions, ", ") + ")")
	}
	db := strings.TrimSuffix(rest, "."+ext)
	if db == "" {
		return bad("no database name")
	}
	return Dump{
		Key:      key,
		Instance: strings.TrimSuffix(dir, "/"),
		Time:     t.UTC(),
		Database: db,
		Ext:      ext,
	}, nil
}

// Extensions are the endings of dump keys, longest first: what envsync
// writes (<what>.zst) and what the old scripts wrote (.gz, whatever is
// inside). A database name may hold dots ("my.db"): the key is read from
// its end, so that my.db's dumps are never taken for my's.
var Extensions = []string{"pgdump.zst", "sql.zst", "dump.zst", "pgdump.gz", "sql.gz", "dump.gz", "zst", "gz"}

// extension is the known extension rest ends with, "" for none.
func extension(rest string) string {
	for _, ext := range Extensions {
		if strings.HasSuffix(rest, "."+ext) {
			return ext
		}
	}
	return ""
}

// Dumps returns the dumps of database among keys, oldest first.
func Dumps(keys []string, database string) []Dump {
	var ds []Dump
	for _, k := range keys {
		d, err := Parse(k)
		if err == nil && d.Database == database {
			ds = append(ds, d)
		}
	}
	sort.SliceStable(ds, func(i, j int) bool {
		if !ds[i].Time.Equal(ds[j].Time) {
			return ds[i].Time.Before(ds[j].Time)
		}
		return ds[i].Key < ds[j].Key
	})
	return ds
}

// How says how Choose found the dump, for the log.
type How string

const (
	ByName      How = "FILENAME"
	ByTimestamp How = "timestamp"
	ByPointer   How = "pointer"
	ByListing   How = "newest by listing"
)

// Choose picks the dump a restore reads: want (a key, a file name under
// instance, or a timestamp) when given, else the key held by the pointer,
// else the newest dump of database found by listing instance/.
func Choose(ctx context.Context, st storage.Store, instance, database, want string) (Dump, How, error) {
	want = strings.TrimSpace(want)
	if want != "" {
		return chooseWanted(ctx, st, instance, database, want)
	}
	pk := PointerKey(instance, database)
	key, err := ReadPointer(ctx, st, instance, database)
	if err != nil {
		return Dump{}, "", err
	}
	if key != "" {
		d, err := Parse(key)
		if err != nil {
			return Dump{}, "", fmt.Errorf("pointer %s: %w", pk, err)
		}
		return d, ByPointer, nil
	}
	keys, err := st.List(ctx, instance+"/")
	if err != nil {
		return Dump{}, "", err
	}
	ds := Dumps(keys, database)
	if len(ds) == 0 {
		return Dump{}, "", fmt.Errorf("no dump of database %q under %s/%s/ (and no pointer %s)", database, st, instance, pk)
	}
	return ds[len(ds)-1], ByListing, nil
}

// ReadPointer returns the key the pointer of database names; "" when there
// is no pointer.
func ReadPointer(ctx context.Context, st storage.Store, instance, database string) (string, error) {
	pk := PointerKey(instance, database)
	rc, err := st.Get(ctx, pk)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading pointer %s: %w", pk, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return "", fmt.Errorf("reading pointer %s: %w", pk, err)
	}
	return pointerTarget(st, instance, string(b)), nil
}

// pointerTarget reads a pointer's content: a key, tolerating a bare file name
// (relative to instance) and an s3:// URL of the same bucket as older scripts wrote.
func pointerTarget(st storage.Store, instance, content string) string {
	k := strings.TrimSpace(content)
	k = strings.TrimPrefix(k, st.String()+"/")
	if !strings.Contains(k, "/") {
		k = instance + "/" + k
	}
	return k
}

func chooseWanted(ctx context.Context, st storage.Store, instance, database, want string) (Dump, How, error) {
	keys, err := st.List(ctx, instance+"/")
	if err != nil {
		return Dump{}, "", err
	}
	dumps := Dumps(keys, database)
	if t, ok := parseTimestamp(want); ok {
		for _, d := range dumps {
			if d.Time.Equal(t) {
				return d, ByTimestamp, nil
			}
		}
		return Dump{}, "", fmt.Errorf("FILENAME %q: no dump of database %q taken at %s under %s/%s/%s", want, database, t.Format(TimeFormat), st, instance, nearest(dumps, t))
	}
	key := pointerTarget(st, instance, want)
	d, err := Parse(key)
	if err != nil {
		// A key named in full may end as it likes (the format is read from
		// the bytes): it is this database's when it says so.
		var ok bool
		if d, ok = parseAs(key, database); !ok {
			return Dump{}, "", fmt.Errorf("FILENAME %q: %w", want, err)
		}
	}
	present := keys
	if d.Instance != instance { // a dump of another instance, named in full
		if present, err = st.List(ctx, d.Instance+"/"); err != nil {
			return Dump{}, "", err
		}
	}
	if !slices.Contains(present, key) {
		return Dump{}, "", fmt.Errorf("FILENAME %q: no object %s/%s%s", want, st, key, nearest(Dumps(present, d.Database), d.Time))
	}
	return d, ByName, nil
}

// nearest says which dumps are closest in time to t: what an operator
// who mistyped FILENAME most likely meant.
func nearest(dumps []Dump, t time.Time) string {
	if len(dumps) == 0 {
		return "; there is no dump of it at all"
	}
	ds := slices.Clone(dumps)
	dist := func(d Dump) time.Duration { return d.Time.Sub(t).Abs() }
	slices.SortStableFunc(ds, func(a, b Dump) int { return cmp.Compare(dist(a), dist(b)) })
	var keys []string
	for _, d := range ds[:min(3, len(ds))] {
		keys = append(keys, d.Key)
	}
	return "; the nearest dumps are " + strings.Join(keys, ", ")
}

// parseTimestamp accepts the key format and RFC 3339 ("2024-05-01T03:04:05Z").
func parseTimestamp(s string) (time.Time, bool) {
	for _, f := range []string{TimeFormat, time.RFC3339} {
		if t, err := time.Parse(f, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseAs reads key as a dump of database whatever its extension:
// <instance>/<time>-<database>.<anything>.
func parseAs(key, database string) (Dump, bool) {
	dir, base := path.Split(key)
	if len(base) < len(TimeFormat)+1 || base[len(TimeFormat)] != '-' || strings.HasSuffix(base, ChecksumSuffix) {
		return Dump{}, false
	}
	t, err := time.Parse(TimeFormat, base[:len(TimeFormat)])
	ext, ok := strings.CutPrefix(base[len(TimeFormat)+1:], database+".")
	if err != nil || !ok || ext == "" {
		return Dump{}, false
	}
	return Dump{Key: key, Instance: strings.TrimSuffix(dir, "/"), Time: t.UTC(), Database: database, Ext: ext}, true
}
