package testenv_test

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/envsync/envsync/testenv"
)

func TestFerretDBStoresDocumentsAndRefusesAWrongPassword(t *testing.T) {
	f := testenv.StartFerretDB(t)
	ctx := context.Background()
	if _, err := f.Client().Database("d").Collection("c").InsertOne(ctx, bson.D{{Key: "a", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Client().Database("d").Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("count %d, %v", n, err)
	}
	cred := f.Credential()
	cred.Password = "wrong"
	c, err := mongo.Connect(options.Client().ApplyURI(f.URI("")).SetAuth(cred))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	if _, err := c.Database("d").Collection("c").CountDocuments(ctx, bson.D{}); err == nil {
		t.Error("a wrong password was accepted: the password tests would prove nothing")
	}
}
