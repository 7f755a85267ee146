package archive

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Metadata is a collection's metadata as mongodump writes it in the
// prelude: canonical Extended JSON of listCollections' options and
// listIndexes' specs.
type Metadata struct {
	Options        bson.D   `bson:"options,omitempty"`
	Indexes        []bson.D `bson:"indexes"`
	UUID           string   `bson:"uuid,omitempty"`
	CollectionName string   `bson:"collectionName"`
	Type           string   `bson:"type,omitempty"`
}

// ParseMetadata reads a prelude's metadata text.
func ParseMetadata(text string) (Metadata, error) {
	var m Metadata
	if err := bson.UnmarshalExtJSON([]byte(text), true, &m); err != nil {
		return m, fmt.Errorf("collection metadata: %w", err)
	}
	return m, nil
}

// Text is the metadata as mongodump writes it: canonical Extended JSON.
func (m Metadata) Text() (string, error) {
	b, err := bson.MarshalExtJSON(m, true, false)
	if err != nil {
		return "", fmt.Errorf("collection metadata: %w", err)
	}
	return string(b), nil
}
