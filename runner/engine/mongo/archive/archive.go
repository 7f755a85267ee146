// Package archive reads and writes mongodump archives (mongodump --archive,
// mongo-tools 100.x), the format of every Mongo dump envsync stores, so that
// the old scripts' dumps restore and an operator can still restore the
// runner's own with mongorestore --archive. Both directions stream: memory
// is one document (at most 16 MiB) whatever the archive's size.
//
// Layout (little-endian, as BSON): the magic number; the prelude (a header
// document, then one document per collection, then a terminator); then
// blocks, each a namespace header, zero or more documents and a terminator.
// A collection's data blocks may be interleaved with other collections';
// its end block (EOF: true) carries the CRC-64/ECMA of all its documents.
// The archive is complete when every collection of the prelude has ended.
package archive

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Magic starts every archive.
const Magic uint32 = 0x8199e26d

// terminator ends the prelude and every block: no BSON document can start
// with it, as a document's length is between 5 and 16 MiB.
const terminator uint32 = 0xffffffff

// MaxDocument is the largest document the server stores, plus room for the
// headers mongodump writes.
const MaxDocument = 16<<20 + 16<<10

var crcTable = crc64.MakeTable(crc64.ECMA)

// Header is the archive's first document.
type Header struct {
	ConcurrentCollections int32  `bson:"concurrent_collections" json:"concurrent_collections"`
	Version               string `bson:"version" json:"version"`
	ServerVersion         string `bson:"server_version" json:"server_version"`
	ToolVersion           string `bson:"tool_version" json:"tool_version"`
}

// Collection is one collection of the prelude. Metadata is the JSON text
// mongodump writes (options, indexes, uuid, collectionName, type); it never
// names the database, so a restore under another name maps DB only.
type Collection struct {
	DB       string `bson:"db"`
	Name     string `bson:"collection"`
	Metadata string `bson:"metadata"`
	Size     int32  `bson:"size"`
	Type     string `bson:"type"`
}

// namespace is the header of a block.
type namespace struct {
	DB         string `bson:"db"`
	Collection string `bson:"collection"`
	EOF        bool   `bson:"EOF"`
	CRC        int64  `bson:"CRC"`
}

// ErrNotArchive is returned for a stream that does not start with the magic
// number: a dump of another engine, or one still compressed.
var ErrNotArchive = errors.New("not a mongodump archive (no magic number)")

// Reader reads an archive document by document.
type Reader struct {
	r      *bufio.Reader
	header Header
	colls  []Collection
	index  map[[2]string]int
	crcs   []hash.Hash64
	counts []int64
	ended  []bool
	order  []int // collections in the order they ended
	open   int   // the collection of the current data block; -1 between blocks
	left   int   // collections not ended yet
	offset int64 // bytes read, for errors
	buf    []byte
}

// NewReader reads the magic number and the prelude.
func NewReader(r io.Reader) (*Reader, error) {
	ar := &Reader{r: bufio.NewReaderSize(r, 1<<20), index: map[[2]string]int{}, open: -1}
	var magic [4]byte
	if _, err := io.ReadFull(ar.r, magic[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the dump is %s", ErrNotArchive, "empty or shorter than 4 bytes")
		}
		return nil, err
	}
	ar.offset = 4
	if binary.LittleEndian.Uint32(magic[:]) != Magic {
		return nil, fmt.Errorf("%w: it starts with % x", ErrNotArchive, magic)
	}
	doc, err := ar.document()
	if err != nil {
		return nil, fmt.Errorf("archive header: %w", err)
	}
	if doc == nil {
		return nil, errors.New("archive header: missing")
	}
	if err := bson.Unmarshal(doc, &ar.header); err != nil {
		return nil, fmt.Errorf("archive header: %w", err)
	}
	for {
		doc, err := ar.document()
		if err != nil {
			return nil, fmt.Errorf("archive prelude: %w", err)
		}
		if doc == nil {
			break
		}
		var c Collection
		if err := bson.Unmarshal(doc, &c); err != nil {
			return nil, fmt.Errorf("archive prelude: %w", err)
		}
		key := [2]string{c.DB, c.Name}
		if _, dup := ar.index[key]; dup {
			return nil, fmt.Errorf("archive prelude: %s.%s is listed twice", c.DB, c.Name)
		}
		ar.index[key] = len(ar.colls)
		ar.colls = append(ar.colls, c)
		ar.crcs = append(ar.crcs, crc64.New(crcTable))
	}
	ar.counts = make([]int64, len(ar.colls))
	ar.ended = make([]bool, len(ar.colls))
	ar.left = len(ar.colls)
	return ar, nil
}

// Header is the archive's header document.
func (ar *Reader) Header() Header { return ar.header }

// Collections are the collections the archive holds, in prelude order.
func (ar *Reader) Collections() []Collection { return ar.colls }

// Count is how many documents of collection i have been read.
func (ar *Reader) Count(i int) int64 { return ar.counts[i] }

// Next returns the next document and the index of its collection in
// Collections. The document is valid until the next call. After the last
// document it returns io.EOF, and only when every collection has ended with
// a matching CRC and nothing follows: a truncated, corrupt or padded
// archive is an error.
func (ar *Reader) Next() (int, bson.Raw, error) {
	for {
		if ar.open >= 0 {
			doc, err := ar.document()
			if err != nil {
				return 0, nil, fmt.Errorf("%s.%s: %w", ar.colls[ar.open].DB, ar.colls[ar.open].Name, err)
			}
			if doc != nil {
				ar.crcs[ar.open].Write(doc)
				ar.counts[ar.open]++
				return ar.open, doc, nil
			}
			ar.open = -1
			continue
		}
		if ar.left == 0 {
			// Complete: nothing may follow.
			if _, err := ar.r.ReadByte(); err == nil {
				return 0, nil, fmt.Errorf("archive: bytes after the last collection ended (offset %d)", ar.offset)
			} else if !errors.Is(err, io.EOF) {
				return 0, nil, err
			}
			return 0, nil, io.EOF
		}
		doc, err := ar.document()
		if errors.Is(err, io.EOF) {
			return 0, nil, fmt.Errorf("archive: %w: it ends before %s", io.ErrUnexpectedEOF, ar.unended())
		}
		if err != nil {
			return 0, nil, fmt.Errorf("archive block header: %w", err)
		}
		if doc == nil {
			return 0, nil, fmt.Errorf("archive: a terminator where a block header should be (offset %d)", ar.offset)
		}
		var ns namespace
		if err := bson.Unmarshal(doc, &ns); err != nil {
			return 0, nil, fmt.Errorf("archive block header: %w", err)
		}
		i, ok := ar.index[[2]string{ns.DB, ns.Collection}]
		if !ok {
			return 0, nil, fmt.Errorf("archive: a block of %s.%s, which the prelude does not list", ns.DB, ns.Collection)
		}
		if ar.ended[i] {
			return 0, nil, fmt.Errorf("archive: a block of %s.%s after its end", ns.DB, ns.Collection)
		}
		if !ns.EOF {
			ar.open = i
			continue
		}
		// End block: its terminator follows at once.
		if term, err := ar.document(); err != nil || term != nil {
			return 0, nil, fmt.Errorf("archive: the end block of %s.%s is not followed by a terminator", ns.DB, ns.Collection)
		}
		if got := int64(ar.crcs[i].Sum64()); got != ns.CRC {
			return 0, nil, fmt.Errorf("archive: %s.%s: CRC %016x of its %d documents, but its end block says %016x", ns.DB, ns.Collection, uint64(got), ar.counts[i], uint64(ns.CRC))
		}
		ar.ended[i] = true
		ar.order = append(ar.order, i)
		ar.left--
	}
}

// Ended lists the collections that have ended so far, in the order their
// end blocks came.
func (ar *Reader) Ended() []int { return ar.order }

func (ar *Reader) unended() string {
	for i, c := range ar.colls {
		if !ar.ended[i] {
			return fmt.Sprintf("%s.%s ended (%d documents read)", c.DB, c.Name, ar.counts[i])
		}
	}
	return "its end"
}

// document reads one BSON document, or nil for a terminator. io.EOF means
// the stream ended cleanly before the length; anything shorter is
// io.ErrUnexpectedEOF.
func (ar *Reader) document() (bson.Raw, error) {
	var l [4]byte
	n, err := io.ReadFull(ar.r, l[:])
	if err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w at offset %d", io.ErrUnexpectedEOF, ar.offset)
	}
	size := binary.LittleEndian.Uint32(l[:])
	if size == terminator {
		ar.offset += 4
		return nil, nil
	}
	if size < 5 || size > MaxDocument {
		return nil, fmt.Errorf("a document of %d bytes at offset %d: the archive is corrupt", size, ar.offset)
	}
	if cap(ar.buf) < int(size) {
		ar.buf = make([]byte, size)
	}
	buf := ar.buf[:size]
	copy(buf, l[:])
	if _, err := io.ReadFull(ar.r, buf[4:]); err != nil {
		return nil, fmt.Errorf("%w in a document at offset %d", io.ErrUnexpectedEOF, ar.offset)
	}
	if buf[size-1] != 0 {
		return nil, fmt.Errorf("a document at offset %d does not end with a NUL: the archive is corrupt", ar.offset)
	}
	ar.offset += int64(size)
	return bson.Raw(buf), nil
}

// Writer writes an archive: the prelude at once, then documents in any
// order of collections, then each collection's end.
type Writer struct {
	w      io.Writer
	colls  []Collection
	crcs   []hash.Hash64
	blocks []int // data blocks written per collection
	ended  []bool
	open   int
}

// NewWriter writes the magic number, header and prelude of colls.
func NewWriter(w io.Writer, h Header, colls []Collection) (*Writer, error) {
	aw := &Writer{w: w, colls: colls, open: -1, blocks: make([]int, len(colls)), ended: make([]bool, len(colls))}
	if err := binary.Write(w, binary.LittleEndian, Magic); err != nil {
		return nil, err
	}
	if err := aw.marshal(h); err != nil {
		return nil, err
	}
	for _, c := range colls {
		if err := aw.marshal(c); err != nil {
			return nil, err
		}
		aw.crcs = append(aw.crcs, crc64.New(crcTable))
	}
	return aw, aw.terminate()
}

// Write adds doc to collection i, starting a block when the previous
// document was of another collection.
func (aw *Writer) Write(i int, doc bson.Raw) error {
	if aw.ended[i] {
		return fmt.Errorf("archive: %s.%s has ended", aw.colls[i].DB, aw.colls[i].Name)
	}
	if aw.open != i {
		if err := aw.startBlock(i); err != nil {
			return err
		}
	}
	aw.crcs[i].Write(doc)
	_, err := aw.w.Write(doc)
	return err
}

// End ends collection i: an empty data block if it had none (as mongodump
// writes for an empty collection), then its end block with the CRC.
func (aw *Writer) End(i int) error {
	if aw.blocks[i] == 0 {
		if err := aw.startBlock(i); err != nil {
			return err
		}
	}
	if aw.open >= 0 {
		if err := aw.terminate(); err != nil {
			return err
		}
		aw.open = -1
	}
	c := aw.colls[i]
	if err := aw.marshal(namespace{DB: c.DB, Collection: c.Name, EOF: true, CRC: int64(aw.crcs[i].Sum64())}); err != nil {
		return err
	}
	aw.ended[i] = true
	return aw.terminate()
}

// Close checks that every collection has ended; it closes nothing.
func (aw *Writer) Close() error {
	for i, c := range aw.colls {
		if !aw.ended[i] {
			return fmt.Errorf("archive: %s.%s never ended", c.DB, c.Name)
		}
	}
	return nil
}

func (aw *Writer) startBlock(i int) error {
	if aw.open >= 0 {
		if err := aw.terminate(); err != nil {
			return err
		}
	}
	c := aw.colls[i]
	if err := aw.marshal(namespace{DB: c.DB, Collection: c.Name}); err != nil {
		return err
	}
	aw.open = i
	aw.blocks[i]++
	return nil
}

func (aw *Writer) marshal(v any) error {
	b, err := bson.Marshal(v)
	if err != nil {
		return err
	}
	_, err = aw.w.Write(b)
	return err
}

func (aw *Writer) terminate() error {
	return binary.Write(aw.w, binary.LittleEndian, terminator)
}
