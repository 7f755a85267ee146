package mongo

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
	"github.com/dop251/goja/parser"
)

// A mongosh script is checked on its syntax tree, not its spelling: names
// are compared after the parser has resolved escapes (getSibling\u0044B is
// getSiblingDB), and whatever cannot be resolved before it runs (a property
// named by a computed string) is refused. What a script may do:
//
//   - use db only as db.<collection> or db["<collection>"], with the
//     collection methods of mongosh (find, updateMany, ...);
//   - plain JavaScript over the documents it reads;
//   - require("crypto"), to pseudonymise with a hash;
//   - print.
//
// What it may not: reach another database or the server as a whole
// (getSiblingDB, getMongo, adminCommand, runCommand, $out, $merge, ...),
// the process or the file system (process, require of anything else,
// load, eval, Function), or the machinery that reaches them (constructor,
// __proto__, Reflect, property descriptors).

// allowedModules are what require may load.
var allowedModules = map[string]bool{"crypto": true}

// deniedNames are globals a script may not name.
var deniedNames = map[string]string{
	"require":    "require loads modules that reach the file system and processes; only require(\"crypto\") is allowed",
	"process":    "process exposes the runner's environment and can end or spawn processes",
	"globalThis": "the global object reaches everything the checks refuse by name", "global": "the global object reaches everything the checks refuse by name",
	"this":     "the global object reaches everything the checks refuse by name",
	"Function": "Function compiles code the check never sees", "eval": "eval runs code the check never sees",
	"load": "load runs a file the check never sees", "connect": "connect opens a connection to another database",
	"Mongo": "Mongo opens a connection to another server", "Reflect": "Reflect reaches properties by computed names",
	"Proxy": "Proxy intercepts the checks' names", "module": "module reaches Node's loader", "exports": "module reaches Node's loader",
	"quit": "quit ends mongosh before the script is done", "exit": "exit ends mongosh before the script is done",
	"sh": "sh reaches the cluster's administration", "rs": "rs reaches the replica set's administration", "sp": "sp reaches stream processing",
	"use": "use switches to another database", "WebAssembly": "WebAssembly compiles code the check never sees",
	"__dirname": "file-system paths are not for scripts", "__filename": "file-system paths are not for scripts",
}

// deniedProperties are property names a script may not use, on any
// object.
var deniedProperties = map[string]string{
	"getSiblingDB": "it reaches another database", "getSisterDB": "it reaches another database",
	"getMongo": "it reaches the server as a whole", "getDB": "it reaches another database",
	"adminCommand": "it runs a command on the admin database", "runCommand": "it runs any command (renameCollection, copydb) on the server",
	"_runCommand": "it runs any command on the server", "_mongo": "it reaches the server as a whole",
	"_database": "it reaches mongosh's internals", "_instanceState": "it reaches mongosh's internals",
	"copyDatabase": "it copies to another database", "cloneDatabase": "it copies to another database",
	"cloneCollection": "it copies from another server", "mapReduce": "its out option writes to another database",
	"watch": "it keeps the script waiting for changes", "getCollectionFromFullName": "it reaches another database",
	"constructor": "it reaches Function, which compiles code the check never sees", "__proto__": "it reaches prototypes, and through them Function",
	"prototype":                "it reaches prototypes, and through them Function",
	"getOwnPropertyDescriptor": "it reaches properties by computed names", "getOwnPropertyDescriptors": "it reaches properties by computed names",
	"getPrototypeOf": "it reaches prototypes, and through them Function", "setPrototypeOf": "it changes prototypes",
	"defineProperty": "it changes what names mean", "defineProperties": "it changes what names mean",
	"__defineGetter__": "it changes what names mean", "__defineSetter__": "it changes what names mean",
	"__lookupGetter__": "it reaches properties by computed names", "__lookupSetter__": "it reaches properties by computed names",
	"$out": "it writes an aggregation's result to another collection or database", "$merge": "it writes an aggregation's result to another collection or database",
}

// CheckScript refuses a script that could reach past the database the
// runner gives it as db, naming the first offending line.
func CheckScript(script string) error {
	prog, err := parser.ParseFile(nil, "script", script, 0)
	if err != nil {
		return fmt.Errorf("the script does not parse as JavaScript: %w", err)
	}
	c := &scriptChecker{file: prog.File}
	c.walk(reflect.ValueOf(prog))
	return c.err
}

type scriptChecker struct {
	file *file.File
	err  error
}

func (c *scriptChecker) refuse(at file.Idx, what, why string) {
	if c.err == nil {
		c.err = fmt.Errorf("line %d: %s: %s; a script works on db.<collection> alone (the runner points db at the copy it sanitises)", c.file.Position(int(at)-c.file.Base()).Line, what, why)
	}
}

var nodeType = reflect.TypeOf((*ast.Node)(nil)).Elem()

// walk visits every node below v, stopping at the first refusal.
func (c *scriptChecker) walk(v reflect.Value) {
	if c.err != nil || !v.IsValid() {
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		c.walk(v.Elem())
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Type().Implements(nodeType) && c.node(v.Interface().(ast.Node)) {
			return
		}
		c.walk(v.Elem())
	case reflect.Slice:
		for i := range v.Len() {
			c.walk(v.Index(i))
		}
	case reflect.Struct:
		if v.Type().PkgPath() != reflect.TypeOf(ast.Program{}).PkgPath() {
			return // file positions, strings
		}
		if v.Type() == reflect.TypeOf(ast.Identifier{}) {
			c.identifier(v.Addr().Interface().(*ast.Identifier))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				c.walk(v.Field(i))
			}
		}
	}
}

// node checks the nodes whose meaning depends on their parts; it returns
// true when it has visited the node's children itself.
func (c *scriptChecker) node(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.ThisExpression:
		c.refuse(n.Idx0(), "this", deniedNames["this"])
	case *ast.DotExpression:
		c.object(n.Left)
		c.property(n.Identifier.Idx, string(n.Identifier.Name))
		return true
	case *ast.BracketExpression:
		c.object(n.Left)
		_, variable := n.Member.(*ast.Identifier)
		key, ok := literalKey(n.Member)
		if !ok || variable {
			c.refuse(n.Idx0(), "a property named by a computed value", "the check cannot know which property it is; spell the name out")
			return true
		}
		c.property(n.Member.Idx0(), key)
		return true
	case *ast.PropertyKeyed:
		if key, ok := literalKey(n.Key); ok && (key == "$out" || key == "$merge") {
			c.property(n.Key.Idx0(), key)
		} else if !ok && n.Computed {
			c.refuse(n.Idx0(), "a key computed at run time", "the check cannot know which key it is; spell it out")
			return true
		}
		c.walk(reflect.ValueOf(n.Value))
		return true
	case *ast.CallExpression:
		if id, ok := n.Callee.(*ast.Identifier); ok && id.Name == "require" {
			if len(n.ArgumentList) == 1 {
				if s, ok := n.ArgumentList[0].(*ast.StringLiteral); ok && allowedModules[string(s.Value)] {
					return true
				}
			}
			c.refuse(n.Idx0(), "require of anything but \"crypto\"", deniedNames["require"])
			return true
		}
	}
	return false
}

// object visits the object of a member access: db is allowed there, and
// only there.
func (c *scriptChecker) object(e ast.Expression) {
	if id, ok := e.(*ast.Identifier); ok && id.Name == "db" {
		return
	}
	c.walk(reflect.ValueOf(e))
}

func (c *scriptChecker) identifier(id *ast.Identifier) {
	name := string(id.Name)
	if name == "db" {
		c.refuse(id.Idx, "db used other than as db.<collection>", "passed on, aliased or replaced, the check could no longer follow it")
	} else if why, ok := deniedNames[name]; ok {
		c.refuse(id.Idx, name, why)
	}
}

func (c *scriptChecker) property(at file.Idx, name string) {
	if why, ok := deniedProperties[name]; ok {
		c.refuse(at, fmt.Sprintf("%q", name), why)
	}
}

// literalKey is the name a literal property key spells.
func literalKey(e ast.Expression) (string, bool) {
	switch k := e.(type) {
	case *ast.StringLiteral:
		return string(k.Value), true
	case *ast.NumberLiteral:
		return fmt.Sprint(k.Value), true
	case *ast.Identifier:
		return string(k.Name), true
	case *ast.TemplateLiteral:
		if len(k.Expressions) == 0 && len(k.Elements) == 1 {
			return strings.Clone(string(k.Elements[0].Parsed)), true
		}
	}
	return "", false
}
