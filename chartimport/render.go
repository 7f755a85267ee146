package chartimport

import (
	"k8s.io/apimachinery/pkg/util/validation"

	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/envsync/envsync/model"
)

// SyncsDir is where the declarations go, relative to the repository root.
const SyncsDir = "syncs"

// prelude constrains each part of the estate by its schema definition, as
// the example estate's syncs/estate.cue does.
const prelude = `package syncs

import "github.com/envsync/envsync/schema"

image:       schema.#Estate.image
pushgateway: schema.#Estate.pushgateway
environments: [schema.#Name]: schema.#Environment
classes: [schema.#Name]:      schema.#Class
tiers: [schema.#Name]:        schema.#Tier
alerting: schema.#Alerting
monitoring: schema.#Monitoring
scratch: schema.#Scratch
syncs: [Name=string]: schema.#Sync & {name: Name}
`

// field is a label and its value, in the order they are written.
type field struct {
	label string
	value ast.Expr
}

// object is a CUE struct of fields in order; empty values are left out.
func object(fs ...field) *ast.StructLit {
	var args []any
	for _, f := range fs {
		if f.value != nil {
			args = append(args, ast.NewStringLabel(f.label), f.value)
		}
	}
	return ast.NewStruct(args...)
}

func str(s string) ast.Expr {
	if s == "" {
		return nil
	}
	return ast.NewString(s)
}

func flag(b bool) ast.Expr {
	if !b {
		return nil
	}
	return ast.NewBool(true)
}

func strs[S ~string](ss []S) ast.Expr {
	var es []ast.Expr
	for _, s := range ss {
		es = append(es, ast.NewString(string(s)))
	}
	return ast.NewList(es...)
}

func ints(ds []time.Weekday) ast.Expr {
	var es []ast.Expr
	for _, d := range ds {
		es = append(es, ast.NewLit(token.INT, fmt.Sprint(int(d))))
	}
	return ast.NewList(es...)
}

func stringMap(m map[string]string) ast.Expr {
	if len(m) == 0 {
		return nil
	}
	var fs []field
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fs = append(fs, field{k, ast.NewString(m[k])})
	}
	return object(fs...)
}

// goDuration prints d as a Go duration without zero units: 9h45m, 36h.
func goDuration(d time.Duration) string {
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var b strings.Builder
	for _, u := range []struct {
		n    int
		unit string
	}{{h, "h"}, {m, "m"}, {sec, "s"}} {
		if u.n > 0 {
			fmt.Fprintf(&b, "%d%s", u.n, u.unit)
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

func resourcesExpr(r *Resources) ast.Expr {
	if r == nil {
		return nil
	}
	q := func(q Quantities) ast.Expr {
		if q.CPU == "" && q.Memory == "" {
			return nil
		}
		return object(field{"cpu", str(q.CPU)}, field{"memory", str(q.Memory)})
	}
	return object(field{"requests", q(r.Requests)}, field{"limits", q(r.Limits)})
}

// render writes the estate and one file per app.
func (im *importer) render() (*Result, error) {
	res := &Result{Report: im.report, Dropped: im.dropped}
	estate, err := im.estateFile()
	if err != nil {
		return nil, err
	}
	res.Files = append(res.Files, estate)
	var apps []string
	byApp := map[string][]*syncPlan{}
	for _, s := range im.syncs {
		if byApp[s.app] == nil {
			apps = append(apps, s.app)
		}
		byApp[s.app] = append(byApp[s.app], s)
	}
	slices.Sort(apps)
	for _, app := range apps {
		f := &ast.File{Decls: []ast.Decl{&ast.Package{Name: ast.NewIdent("syncs")}}}
		for _, s := range byApp[app] {
			f.Decls = append(f.Decls, &ast.Field{Label: ast.NewIdent("syncs"), Value: object(field{s.name, im.syncExpr(s)})})
		}
		data, err := format.Node(f, format.Simplify())
		if err != nil {
			return nil, fmt.Errorf("formatting syncs of %s: %w", app, err)
		}
		res.Files = append(res.Files, File{Path: path.Join(SyncsDir, app+".cue"), Data: data})
	}
	for _, name := range slices.Sorted(maps.Keys(im.scripts)) {
		res.Files = append(res.Files, File{Path: path.Join(SyncsDir, "sanitise", name), Data: im.scripts[name].data})
	}
	for _, f := range res.Files {
		if !InSyncsDir(f.Path) {
			return nil, fmt.Errorf("the import would write %q, outside %s/ (a bug of envsync import; please report it with the values file)", f.Path, SyncsDir)
		}
	}
	return res, nil
}

// InSyncsDir says whether a file path (slash-separated, relative to the
// repository root) lies under syncs/: the only place an import writes.
func InSyncsDir(p string) bool {
	return filepath.IsLocal(filepath.FromSlash(p)) && strings.HasPrefix(path.Clean(p), SyncsDir+"/")
}

func (im *importer) estateFile() (File, error) {
	f, err := parser.ParseFile("estate.cue", prelude, parser.ParseComments)
	if err != nil {
		return File{}, err
	}
	head := []string{
		"// The estate, imported by `envsync import` from " + path.Base(im.v.File) + ": environments, their",
		"// buckets and flow, schedule classes and tiers. One file per app beside",
		"// this one declares its syncs. Check with `make vet`, compile with `make gen`.",
	}
	if len(im.report) > 0 {
		head = append(head, "//", "// What the import could not express or had to infer (review, then delete):")
		for _, r := range im.report {
			head = append(head, "//   - "+r)
		}
	}
	var cg ast.CommentGroup
	cg.Doc = true
	for _, h := range head {
		cg.List = append(cg.List, &ast.Comment{Text: h})
	}
	ast.AddComment(f.Decls[0], &cg)

	var envs []field
	for _, e := range im.envs {
		var sa ast.Expr
		if v := im.v.ServiceAccount; v != nil {
			name := v.Name
			if name == "" {
				name = "db-backup"
			}
			sa = object(field{"name", str(name)}, field{"create", ast.NewBool(v.Create)}, field{"annotations", stringMap(v.Annotations)})
		}
		envs = append(envs, field{e.name, object(
			field{"bucket", str(e.bucket)},
			field{"namespace", str(im.o.Namespace)},
			field{"restoreFrom", str(e.restoreFrom)},
			field{"class", str(e.class)},
			field{"sanitise", flag(e.sanitise)},
			field{"suspend", flag(e.suspend)},
			field{"jobNamePrefix", str(im.o.JobNamePrefix)},
			field{"serviceAccount", sa},
		)})
	}
	var classes []field
	for _, name := range slices.Sorted(maps.Keys(im.classes)) {
		c := im.classes[name]
		var armed ast.Expr
		if c.armed != nil {
			armed = ints(c.armed)
		}
		classes = append(classes, field{name, object(field{"days", ints(c.days)}, field{"window", str(goDuration(c.window))}, field{"armedDays", armed})})
	}
	var tiers []field
	for _, deadline := range slices.Sorted(maps.Keys(im.tiers)) {
		long := str(goDuration(longRunning(deadline)))
		tiers = append(tiers, field{im.tiers[deadline], object(
			field{"longRunning", object(field{"backup", long}, field{"restore", long})},
			field{"deadline", str(goDuration(deadline))},
			field{"resources", resourcesExpr(im.v.Resources)},
		)})
	}
	undeclaredClass := ""
	if len(im.envs) > 0 {
		undeclaredClass = im.envs[0].class
	}
	f.Decls = append(f.Decls,
		&ast.Field{Label: ast.NewIdent("image"), Value: str(im.o.Image)},
		&ast.Field{Label: ast.NewIdent("pushgateway"), Value: str(im.o.Pushgateway)},
		&ast.Field{Label: ast.NewIdent("environments"), Value: object(envs...)},
		&ast.Field{Label: ast.NewIdent("classes"), Value: object(classes...)},
		&ast.Field{Label: ast.NewIdent("tiers"), Value: object(tiers...)},
		&ast.Field{Label: ast.NewIdent("alerting"), Value: object(
			field{"runbookURL", ast.NewString("")},
			field{"dashboardUID", str("envsync")},
			field{"undeclared", object(field{"tier", str(im.undeclaredTier())}, field{"class", str(undeclaredClass)})},
		)},
	)
	ast.SetRelPos(f.Decls[len(f.Decls)-6], token.NewSection)
	data, err := format.Node(f, format.Simplify())
	if err != nil {
		return File{}, fmt.Errorf("formatting the estate: %w", err)
	}
	return File{Path: path.Join(SyncsDir, "estate.cue"), Data: data}, nil
}

// longRunning is a tier's "taking a long time" threshold: an hour for the
// default tier (jobs the chart gave no deadline), else three quarters of
// its deadline, so that the alert fires before the deadline ends the job.
func longRunning(deadline time.Duration) time.Duration {
	if deadline == defaultDeadline {
		return time.Hour
	}
	return deadline * 3 / 4
}

// undeclaredTier is the tier undeclared series are alerted on: the
// default one when jobs use it, else the quickest.
func (im *importer) undeclaredTier() string {
	if name, ok := im.tiers[defaultDeadline]; ok {
		return name
	}
	return im.tiers[slices.Min(slices.Collect(maps.Keys(im.tiers)))]
}

func (im *importer) env(name string) *envPlan {
	for _, e := range im.envs {
		if e.name == name {
			return e
		}
	}
	return nil
}

func (im *importer) syncExpr(s *syncPlan) ast.Expr {
	var db, dbs ast.Expr
	if len(s.databases) == 1 {
		db = str(s.databases[0])
	} else {
		dbs = strs(s.databases)
	}
	tier := str(s.tier)
	if s.tier == defaultTier {
		tier = nil
	}
	var jobs []field
	for _, p := range s.jobs {
		e := im.env(p.env)
		var class, ops, restoreFrom, sanitise, maxRunTime ast.Expr
		if p.class != e.class {
			class = str(p.class)
		}
		if slices.Contains(p.ops, model.Restore) && p.restoreFrom != e.restoreFrom {
			restoreFrom = str(p.restoreFrom)
		}
		def := []model.Operation{model.Backup}
		if e.restoreFrom != "" || restoreFrom != nil {
			def = []model.Operation{model.Restore, model.Backup}
		}
		if !slices.Equal(p.ops, def) {
			ops = strs(p.ops)
		}
		scripts := map[string]string{}
		for db, name := range p.sanitise {
			scripts[db] = path.Join(SyncsDir, "sanitise", name)
		}
		if len(s.databases) == 1 {
			sanitise = str(scripts[s.databases[0]])
		} else {
			sanitise = stringMap(scripts)
		}
		if p.deadline != s.deadline {
			maxRunTime = str(goDuration(p.deadline))
		}
		jobs = append(jobs, field{p.env, object(
			field{"at", str(p.at)},
			field{"schedule", str(p.schedule)},
			field{"class", class},
			field{"operations", ops},
			field{"restoreFrom", restoreFrom},
			field{"sanitise", sanitise},
			field{"suspend", flag(p.job.Suspend)},
			field{"maxRunTime", maxRunTime},
		)})
	}
	// The chart keyed a job's dumps by its host: a host that is a name is
	// the sync's instance (a roll-back job beside an app's own job shares
	// its dumps and Secret); any other host (a DNS name) stays the host.
	instance, host := "", s.host
	if s.host != "" && s.host != s.name && len(validation.IsDNS1123Label(s.host)) == 0 {
		instance, host = s.host, ""
	}
	return object(
		field{"engine", str(s.engine)},
		field{"instance", str(instance)},
		field{"database", db},
		field{"databases", dbs},
		field{"host", str(host)},
		field{"owner", str(s.owner)},
		field{"tier", tier},
		field{"resources", resourcesExpr(s.resources)},
		field{"env", stringMap(s.env)},
		field{"environments", object(jobs...)},
	)
}
