package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/envsync/envsync/testenv"
)

// Personal data as production holds it: real-looking names, emails, postal
// addresses and phone numbers, generated deterministically.
var (
	firstNames = []string{"Amelia", "Oliver", "Isla", "George", "Ava", "Harry", "Mia", "Noah", "Freya", "Arthur", "Priya", "Mohammed", "Siobhan", "Dafydd", "Aleksandra", "Chidi"}
	lastNames  = []string{"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Patel", "Khan", "O'Neill", "MacLeod", "Nowak", "Okafor", "Hughes", "Thompson"}
	streets    = []string{"Acacia Avenue", "Station Road", "Church Lane", "Victoria Street", "Mill Lane", "Kingsway", "Queen's Road", "Harbour View"}
	towns      = []string{"Leeds", "Cardiff", "Glasgow", "Belfast", "Bristol", "Norwich", "Swansea", "York"}
)

// Person is one member of the public in the seed data.
type Person struct {
	Name, Email, Address, Postcode, Phone string
}

func people(n int) []Person {
	out := make([]Person, n)
	for i := range out {
		first := firstNames[i%len(firstNames)]
		last := lastNames[(i/len(firstNames)+i)%len(lastNames)]
		out[i] = Person{
			Name:     first + " " + last,
			Email:    fmt.Sprintf("%s.%s%d@mailbox.example.net", strings.ToLower(first), strings.ToLower(strings.ReplaceAll(last, "'", "")), i),
			Address:  fmt.Sprintf("%d %s, %s", 3+i*7%180, streets[i%len(streets)], towns[i%len(towns)]),
			Postcode: fmt.Sprintf("LS%d %dAB", 1+i%28, i%10),
			Phone:    fmt.Sprintf("07700 9%05d", 100+i),
		}
	}
	return out
}

// personalStrings are the values that must not appear in a sanitised
// environment: the full names, emails, addresses and phone numbers.
func personalStrings(ps []Person) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name, p.Email, p.Address, p.Phone)
	}
	return out
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// seedPostgres creates production's PostgreSQL databases, owned by the
// roles the generated jobs name.
func seedPostgres(t *testing.T, pg *testenv.Postgres, ps []Person) {
	pg.Exec(t, "postgres", `CREATE DATABASE people_production OWNER people`)
	pg.Exec(t, "postgres", `CREATE DATABASE orders_production OWNER orders`)
	pg.Exec(t, "postgres", `CREATE DATABASE ledger_production OWNER ledger`)

	var b strings.Builder
	b.WriteString(`SET ROLE people;
CREATE TABLE citizens (id serial PRIMARY KEY, full_name text NOT NULL, email text NOT NULL UNIQUE,
  address text NOT NULL, postcode text NOT NULL, phone text, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE applications (id serial PRIMARY KEY, citizen_id int NOT NULL REFERENCES citizens(id),
  kind text NOT NULL, notes text, submitted_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX applications_citizen ON applications(citizen_id);
`)
	for i, p := range ps {
		fmt.Fprintf(&b, "INSERT INTO citizens (full_name, email, address, postcode, phone) VALUES (%s, %s, %s, %s, %s);\n",
			q(p.Name), q(p.Email), q(p.Address), q(p.Postcode), q(p.Phone))
		fmt.Fprintf(&b, "INSERT INTO applications (citizen_id, kind, notes) VALUES (%d, %s, %s);\n",
			i+1, q([]string{"passport", "blue-badge", "council-tax"}[i%3]), q("Called "+p.Name+" on "+p.Phone+" about the form"))
	}
	pg.Exec(t, "people_production", b.String())

	b.Reset()
	b.WriteString(`SET ROLE orders;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_name text NOT NULL, delivery_address text NOT NULL,
  total_pence int NOT NULL CHECK (total_pence >= 0), placed_at timestamptz NOT NULL DEFAULT now());
`)
	for i, p := range ps {
		fmt.Fprintf(&b, "INSERT INTO orders (customer_name, delivery_address, total_pence) VALUES (%s, %s, %d);\n",
			q(p.Name), q(p.Address+" "+p.Postcode), 250+i*37)
	}
	pg.Exec(t, "orders_production", b.String())

	pg.Exec(t, "ledger_production", `SET ROLE ledger;
CREATE TABLE entries (id serial PRIMARY KEY, account text NOT NULL, amount_pence bigint NOT NULL);
INSERT INTO entries (account, amount_pence) SELECT 'acct-' || (g % 7), g * 101 FROM generate_series(1, 500) g;`)
}

// seedMariaDB creates production's MySQL schema of staff accounts.
func seedMariaDB(t *testing.T, m *testenv.MariaDB, ps []Person) {
	var b strings.Builder
	b.WriteString(`CREATE DATABASE accounts_production;
USE accounts_production;
CREATE TABLE users (id int AUTO_INCREMENT PRIMARY KEY, name varchar(200) NOT NULL, email varchar(200) NOT NULL UNIQUE,
  address varchar(300) NOT NULL, created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB;
CREATE TABLE permissions (id int AUTO_INCREMENT PRIMARY KEY, user_id int NOT NULL, permission varchar(50) NOT NULL,
  KEY (user_id), CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users(id)) ENGINE=InnoDB;
`)
	for i, p := range ps {
		fmt.Fprintf(&b, "INSERT INTO users (name, email, address) VALUES (%s, %s, %s);\n", q(p.Name), q(p.Email), q(p.Address))
		fmt.Fprintf(&b, "INSERT INTO permissions (user_id, permission) VALUES (%d, %s);\n", i+1, q([]string{"signin", "editor", "admin"}[i%3]))
	}
	m.Exec(t, "", b.String())
}

// seedMongo creates production's assets_production: one upload per person,
// with the uploader's details, and an index.
func seedMongo(t *testing.T, f *testenv.FerretDB, ps []Person) {
	t.Helper()
	ctx := context.Background()
	uploads := f.Client().Database("assets_production").Collection("uploads")
	docs := make([]any, len(ps))
	for i, p := range ps {
		docs[i] = bson.D{{Key: "file", Value: fmt.Sprintf("file-%d.pdf", i)}, {Key: "uploader_name", Value: p.Name},
			{Key: "uploader_email", Value: p.Email}, {Key: "uploader_address", Value: p.Address}, {Key: "uploader_phone", Value: p.Phone}}
	}
	if _, err := uploads.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := uploads.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "file", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
}

// mongoText is every document of every database of f as Extended JSON.
func mongoText(t *testing.T, f *testenv.FerretDB) string {
	t.Helper()
	dbs, err := f.Client().ListDatabaseNames(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, d := range dbs {
		for _, docs := range f.Documents(t, d) {
			for _, doc := range docs {
				j, _ := bson.MarshalExtJSON(doc, false, false)
				b.Write(j)
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}
