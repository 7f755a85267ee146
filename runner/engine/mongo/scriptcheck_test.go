package mongo_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/envsync/envsync/runner/engine/mongo"
)

// Each way out of the copy a sanitise script is given, spelled as a
// careless or a determined author would, is refused at its line; the
// estate's own script and ordinary JavaScript pass.
func TestAMongoScriptCannotReachPastItsDatabase(t *testing.T) {
	refused := map[string]struct {
		script string
		line   int
		want   string
	}{
		"getSiblingDB":                  {"db.users.find();\nconst u = db.getSiblingDB('live').users;", 2, "getSiblingDB"},
		"adminCommand renameCollection": {"db.adminCommand({renameCollection: \"live.users\", to: \"shadow.users\"});", 1, "adminCommand"},
		"runCommand":                    {"db.runCommand({copydb: 1});", 1, "runCommand"},
		"a computed name":               {"db[\"getSibling\" + \"DB\"](\"live\");", 1, "computed"},
		"a unicode escape":              {"\n\ndb.getSibling\\u0044B(\"live\");", 3, "getSiblingDB"},
		"require child_process":         {"require(\"child_process\").execSync(\"id\");", 1, "require"},
		"require by a variable":         {"const m = 'crypto';\nrequire(m);", 2, "require"},
		"process.env":                   {"print(process.env.ENVSYNC_MONGOSH_URI);", 1, "process"},
		"globalThis":                    {"globalThis.db.users.drop();", 1, "globalThis"},
		"db aliased":                    {"const d = db;\nd.getSiblingDB('x');", 1, "db used other than"},
		"db replaced":                   {"db = connect('mongodb://x/live');", 1, "db used other than"},
		"db passed on":                  {"f(db);", 1, "db used other than"},
		"db in a shorthand":             {"const o = {db};", 1, "db used other than"},
		"getMongo":                      {"db.getMongo().getDB('live').users.drop();", 1, "getMongo"},
		"through a collection":          {"db.users._database._mongo;", 1, "_database"},
		"$out":                          {"db.users.aggregate([{$out: {db: 'live', coll: 'users'}}]);", 1, "$out"},
		"$merge quoted":                 {"db.users.aggregate([{'$merge': 'x'}]);", 1, "$merge"},
		"the Function constructor":      {"[].map.constructor('return process')();", 1, "constructor"},
		"eval":                          {"eval('1');", 1, "eval"},
		"load":                          {"load('/tmp/x.js');", 1, "load"},
		"this":                          {"this.db;", 1, "this"},
		"connect":                       {"const c = connect('mongodb://localhost/live');", 1, "connect"},
		"a computed name on a document": {"const f = 'constructor';\nx[f];", 2, "computed"},
		"not JavaScript":                {"use live\ndb.users.drop()", 1, "does not parse"},
	}
	for name, c := range refused {
		t.Run(name, func(t *testing.T) {
			err := mongo.CheckScript(c.script)
			if err == nil {
				t.Fatalf("accepted %q", c.script)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), fmt.Sprintf("line %d:", c.line)) && !strings.Contains(err.Error(), "does not parse") {
				t.Errorf("error %q, want line %d and %q", err, c.line, c.want)
			}
		})
	}
	estate, err := os.ReadFile("../../../syncs/sanitise/asset-manager.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{
		string(estate),
		"db.users.updateMany({}, {$set: {email: 'user@example.invalid'}});",
		"db['odd-name'].deleteMany({});\ndb.getCollection('users').find({}).forEach((u) => { u['email'] = u.name + '@example.invalid'; });",
		"for (const d of db.users.find().toArray()) { db.users.updateOne({_id: d._id}, {$set: {n: d.name.length}}); }",
		"db.users.aggregate([{$match: {a: 1}}, {$group: {_id: '$b'}}]);",
	} {
		if err := mongo.CheckScript(ok); err != nil {
			t.Errorf("refused %q: %v", ok, err)
		}
	}
}
