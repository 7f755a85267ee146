// Package storage holds dumps: an S3 bucket or a local folder, behind one
// small interface. Keys are relative to the bucket ("chat-postgres/latest-x.txt").
package storage

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is wrapped by Get's error when the key does not exist.
var ErrNotFound = errors.New("object not found")

// Store is a bucket of objects.
type Store interface {
	// Put streams r into key. The object becomes visible only once the whole
	// stream has been stored; on error nothing is left under key. Memory use is
	// bounded whatever the stream's length.
	Put(ctx context.Context, key string, r io.Reader) (size int64, err error)
	// Get opens key for reading. A missing key gives an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns every key starting with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// ListObjects is List with each object's size, from the same listing.
	ListObjects(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// String names the store for logs: "s3://bucket" or "file:///path".
	String() string
}

// Object is a listed object.
type Object struct {
	Key  string
	Size int64
}

// keys are the keys of objs, in their order.
func keys(objs []Object, err error) ([]string, error) {
	ks := make([]string, len(objs))
	for i, o := range objs {
		ks[i] = o.Key
	}
	return ks, err
}
