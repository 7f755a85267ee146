package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/envsync/envsync/testenv"
	"github.com/envsync/envsync/testenv/stack"
)

var names = []string{"Amelia Hughes", "Oliver Patel", "Isla MacLeod", "George Okafor", "Freya Nowak", "Dafydd Evans"}

// personalStrings are what the seed writes that must not leave production
// unsanitised: names, and the e-mail domains of every address.
func personalStrings() []string {
	return append(slices.Clone(names), "@department.example.gov.uk", "@mailbox.example.net")
}

// seed fills production's live databases of the jobs the demo runs: the
// three it knows in the shape their sanitise scripts expect
// (syncs/sanitise/chat.sql, asset-manager.js; release has none), and any
// other as an empty database owned as the job says, so that a new sync can
// be tried (-jobs) before it has data here; it says which were left empty.
func seed(s *testenv.Session, prod *stack.Env) {
	seeders := map[string]func(*testenv.Session, *stack.Env){
		"govuk_assets_production": seedAssets, "govuk_chat_production": seedChat, "release_production": seedRelease,
	}
	for _, l := range prod.Live {
		if fill, ok := seeders[l.Database]; ok {
			fill(s, prod)
			continue
		}
		switch l.Engine {
		case "postgres":
			create := fmt.Sprintf("CREATE DATABASE %q", l.Database)
			if l.Owner != "" {
				create += fmt.Sprintf(" OWNER %q", l.Owner)
			}
			prod.Postgres.Exec(s, "postgres", create)
		case "mysql":
			prod.MariaDB.Exec(s, "", fmt.Sprintf("CREATE DATABASE `%s`", l.Database))
		case "mongo":
			// A Mongo database exists once it holds a collection.
			if err := prod.Mongo.Client().Database(l.Database).CreateCollection(context.Background(), "envsync_demo"); err != nil {
				s.Fatal(err)
			}
		default:
			continue
		}
		fmt.Printf("  %s (%s): no seed data for it; created empty (a sanitise script that names its tables fails, as it would on an empty database)\n", l.Database, l.Sync)
	}
}

func seedAssets(s *testenv.Session, prod *stack.Env) {
	db := prod.Mongo.Client().Database("govuk_assets_production")
	var assets, users []any
	for i, n := range names {
		email := strings.ToLower(strings.ReplaceAll(n, " ", ".")) + "@department.example.gov.uk"
		users = append(users, bson.D{{Key: "name", Value: n}, {Key: "email", Value: email}, {Key: "uid", Value: fmt.Sprintf("uid-%d", 2000+i)}})
		assets = append(assets, bson.D{{Key: "file", Value: fmt.Sprintf("letter-%d.pdf", i)}, {Key: "state", Value: "uploaded"},
			{Key: "uploaded_by", Value: email}, {Key: "draft", Value: false}, {Key: "deleted_at", Value: nil}})
	}
	if _, err := db.Collection("users").InsertMany(context.Background(), users); err != nil {
		s.Fatal(err)
	}
	if _, err := db.Collection("assets").InsertMany(context.Background(), assets); err != nil {
		s.Fatal(err)
	}
}

func seedChat(s *testenv.Session, prod *stack.Env) {
	prod.Postgres.Exec(s, "postgres", `CREATE DATABASE govuk_chat_production OWNER govuk_chat`)
	var b strings.Builder
	b.WriteString(`SET ROLE govuk_chat;
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, uid text NOT NULL);
CREATE TABLE conversations (id serial PRIMARY KEY, user_id int REFERENCES users(id), created_at timestamptz NOT NULL);
CREATE TABLE questions (id serial PRIMARY KEY, conversation_id int NOT NULL REFERENCES conversations(id) ON DELETE CASCADE, message text NOT NULL);
CREATE TABLE answers (id serial PRIMARY KEY, question_id int NOT NULL REFERENCES questions(id) ON DELETE CASCADE, message text NOT NULL, sources_json jsonb);
`)
	for i, n := range names {
		first := strings.ToLower(strings.Fields(n)[0])
		fmt.Fprintf(&b, "INSERT INTO users (email, uid) VALUES ('%s.%d@mailbox.example.net', 'uid-%d');\n", first, i, 1000+i)
		fmt.Fprintf(&b, "INSERT INTO conversations (user_id, created_at) VALUES (%d, now() - interval '%d days');\n", i+1, i*10)
		fmt.Fprintf(&b, "INSERT INTO questions (conversation_id, message) VALUES (%d, 'Hello, I am %s of %d Station Road, can I renew my passport?');\n", i+1, n, 10+i)
		fmt.Fprintf(&b, "INSERT INTO answers (question_id, message, sources_json) VALUES (%d, 'Yes %s, you can renew online.', '[\"https://www.gov.uk/renew-adult-passport\"]');\n", i+1, strings.Fields(n)[0])
	}
	prod.Postgres.Exec(s, "govuk_chat_production", b.String())
}

func seedRelease(s *testenv.Session, prod *stack.Env) {
	prod.MariaDB.Exec(s, "", `CREATE DATABASE release_production;
USE release_production;
CREATE TABLE applications (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL UNIQUE);
CREATE TABLE deployments (id int AUTO_INCREMENT PRIMARY KEY, application_id int NOT NULL, version varchar(50) NOT NULL,
  environment varchar(20) NOT NULL, created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (application_id) REFERENCES applications(id));
INSERT INTO applications (name) VALUES ('whitehall'), ('publisher'), ('signon');
INSERT INTO deployments (application_id, version, environment) VALUES
  (1, 'release_1234', 'production'), (2, 'release_567', 'production'), (3, 'release_89', 'staging');`)
}
