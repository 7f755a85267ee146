package archive_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/envsync/envsync/runner/engine/mongo/archive"
	"github.com/envsync/envsync/testenv"
)

// The fixtures are real mongodump archives written by the old scripts
// (shared/fixtures/mongo, with a README saying how they were made) and a
// manifest of what they hold.
const fixtures = "../../../../../shared/fixtures/mongo"

type manifestIndex struct {
	Name   string  `json:"name"`
	Key    [][]any `json:"key"`
	Unique bool    `json:"unique"`
	Sparse bool    `json:"sparse"`
}

type manifestCollection struct {
	Name     string          `json:"name"`
	Count    int64           `json:"count"`
	Checksum string          `json:"checksum_sha256"`
	CRC      string          `json:"crc64_ecma_hex"`
	Options  json.RawMessage `json:"options"`
	Indexes  []manifestIndex `json:"indexes"`
}

type manifestArchive struct {
	File        string               `json:"file"`
	Database    string               `json:"database"`
	Header      archive.Header       `json:"archive_header"`
	Collections []manifestCollection `json:"collections"`
}

type manifest struct {
	Archives  []manifestArchive `json:"archives"`
	Extra     []manifestArchive `json:"extra_archives"`
	Truncated []struct {
		File                string   `json:"file"`
		Complete            []string `json:"collections_complete_before_cut"`
		Cut                 []string `json:"collections_cut"`
		WholeDocumentsCount int      `json:"whole_documents_before_cut"`
	} `json:"truncated"`
}

func loadManifest(t *testing.T) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, "manifest.json"))
	if err != nil {
		t.Fatalf("the Mongo fixtures are missing (shared/fixtures/mongo beside the repository): %v", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Archives) != 5 || len(m.Extra) != 1 || len(m.Truncated) != 1 {
		t.Fatalf("manifest lists %d archives, %d extra, %d truncated", len(m.Archives), len(m.Extra), len(m.Truncated))
	}
	return m
}

// gunzip returns what decompresses of a fixture, and the gzip error if the
// file is cut.
func gunzip(t *testing.T, file string) ([]byte, error) {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	return b, err
}

// readAll reads an archive whole: each collection's documents (copied).
func readAll(t *testing.T, b []byte) (*archive.Reader, map[string][]bson.Raw) {
	t.Helper()
	ar, err := archive.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string][]bson.Raw{}
	for {
		i, doc, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return ar, docs
		}
		if err != nil {
			t.Fatal(err)
		}
		name := ar.Collections()[i].Name
		docs[name] = append(docs[name], slices.Clone(doc))
	}
}

func TestEveryArchiveOfTheOldScriptsReadsWithEveryDocumentIndexAndChecksumOfTheManifest(t *testing.T) {
	m := loadManifest(t)
	for _, a := range append(m.Archives, m.Extra...) {
		t.Run(a.File, func(t *testing.T) {
			b, err := gunzip(t, a.File)
			if err != nil {
				t.Fatal(err)
			}
			ar, docs := readAll(t, b)
			if ar.Header() != a.Header {
				t.Errorf("header %+v, want %+v", ar.Header(), a.Header)
			}
			if len(ar.Collections()) != len(a.Collections) {
				t.Fatalf("%d collections, want %d", len(ar.Collections()), len(a.Collections))
			}
			for _, c := range ar.Collections() {
				if c.DB != a.Database {
					t.Errorf("%s is in database %q, want %q", c.Name, c.DB, a.Database)
				}
			}
			for _, want := range a.Collections {
				i := slices.IndexFunc(ar.Collections(), func(c archive.Collection) bool { return c.Name == want.Name })
				if i < 0 {
					t.Errorf("collection %s is missing", want.Name)
					continue
				}
				if got := int64(len(docs[want.Name])); got != want.Count || ar.Count(i) != want.Count {
					t.Errorf("%s: %d documents, want %d", want.Name, got, want.Count)
				}
				if got := testenv.ContentChecksum(t, docs[want.Name]); got != want.Checksum {
					t.Errorf("%s: checksum %s, want %s", want.Name, got, want.Checksum)
				}
				md, err := archive.ParseMetadata(ar.Collections()[i].Metadata)
				if err != nil {
					t.Fatal(err)
				}
				if md.CollectionName != want.Name {
					t.Errorf("%s: metadata names %q", want.Name, md.CollectionName)
				}
				var got []manifestIndex
				for _, spec := range md.Indexes {
					got = append(got, indexOf(t, spec))
				}
				if g, w := fmt.Sprint(got), fmt.Sprint(want.Indexes); g != w {
					t.Errorf("%s: indexes %s, want %s", want.Name, g, w)
				}
				if g, w := optionsJSON(t, md.Options), compactJSON(t, want.Options); g != w {
					t.Errorf("%s: options %s, want %s", want.Name, g, w)
				}
			}
		})
	}
}

func indexOf(t *testing.T, spec bson.D) manifestIndex {
	t.Helper()
	var ix manifestIndex
	for _, e := range spec {
		switch e.Key {
		case "name":
			ix.Name, _ = e.Value.(string)
		case "unique":
			ix.Unique, _ = e.Value.(bool)
		case "sparse":
			ix.Sparse, _ = e.Value.(bool)
		case "key":
			for _, k := range e.Value.(bson.D) {
				var dir float64
				switch v := k.Value.(type) {
				case int32:
					dir = float64(v)
				case int64:
					dir = float64(v)
				case float64:
					dir = v
				}
				ix.Key = append(ix.Key, []any{k.Key, dir})
			}
		}
	}
	return ix
}

func optionsJSON(t *testing.T, opts bson.D) string {
	t.Helper()
	if opts == nil {
		opts = bson.D{}
	}
	b, err := bson.MarshalExtJSON(opts, true, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func compactJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTheTruncatedArchiveIsRefusedNamingTheCollectionItCuts(t *testing.T) {
	m := loadManifest(t)
	tr := m.Truncated[0]
	b, gzErr := gunzip(t, tr.File)
	if gzErr == nil {
		t.Fatal("the truncated fixture decompresses whole: it proves nothing")
	}
	// Even if the decompressor did not notice, the archive itself does.
	ar, err := archive.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	whole := 0
	for {
		_, _, err = ar.Next()
		if err != nil {
			break
		}
		whole++
	}
	if errors.Is(err, io.EOF) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading the cut archive ended with %v, want an unexpected end", err)
	}
	if !strings.Contains(err.Error(), tr.Cut[0]) {
		t.Errorf("the error does not name the collection that was cut (%s): %v", tr.Cut[0], err)
	}
	if whole != tr.WholeDocumentsCount {
		t.Errorf("%d whole documents before the cut, want %d", whole, tr.WholeDocumentsCount)
	}
	var ended []string
	for _, i := range ar.Ended() {
		ended = append(ended, ar.Collections()[i].Name)
	}
	slices.Sort(ended)
	if !slices.Equal(ended, tr.Complete) {
		t.Errorf("collections ended before the cut: %v, want %v", ended, tr.Complete)
	}
}

// roundTrip writes what a reader reads, in the same order, ending each
// collection where the original did.
func roundTrip(t *testing.T, b []byte) []byte {
	t.Helper()
	ar, err := archive.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	aw, err := archive.NewWriter(&out, ar.Header(), ar.Collections())
	if err != nil {
		t.Fatal(err)
	}
	ended := 0
	endNew := func() {
		for ; ended < len(ar.Ended()); ended++ {
			if err := aw.End(ar.Ended()[ended]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for {
		i, doc, err := ar.Next()
		endNew()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := aw.Write(i, doc); err != nil {
			t.Fatal(err)
		}
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestTheWriterWritesWhatMongodumpWroteByteForByte(t *testing.T) {
	m := loadManifest(t)
	for _, a := range append(m.Archives, m.Extra...) {
		b, err := gunzip(t, a.File)
		if err != nil {
			t.Fatal(err)
		}
		if got := roundTrip(t, b); !bytes.Equal(got, b) {
			t.Errorf("%s: rewritten archive differs from mongodump's (%d bytes, want %d)", a.File, len(got), len(b))
		}
	}
}

func TestCorruptForeignEmptyAndPaddedArchivesAreRefused(t *testing.T) {
	m := loadManifest(t)
	good, err := gunzip(t, m.Archives[1].File)
	if err != nil {
		t.Fatal(err)
	}
	readErr := func(b []byte) error {
		ar, err := archive.NewReader(bytes.NewReader(b))
		if err != nil {
			return err
		}
		for {
			if _, _, err := ar.Next(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	if err := readErr(good); err != nil {
		t.Fatalf("the intact archive: %v", err)
	}
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 0x20 // inside a string of a document
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"a flipped byte inside a document": {flipped, "CRC"},
		"a PostgreSQL dump":                {[]byte("PGDMP\x01\x0e\x00"), "not a mongodump archive"},
		"an empty object":                  {nil, "not a mongodump archive"},
		"bytes after the end":              {append(slices.Clone(good), 0), "after the last collection ended"},
	} {
		if err := readErr(c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}
