// Package declare loads the CUE declarations of an estate (the package in
// syncs/, checked against schema/) and resolves them into a model.Estate:
// every default filled in, every name sorted, every sync and job carrying
// the file and line it was declared at.
package declare

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/token"

	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/names"
)

// Package is the directory, relative to the root, holding the estate.
const Package = "syncs"

// FindRoot returns the nearest directory at or above dir holding cue.mod.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, "cue.mod")); err == nil && fi.IsDir() {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no cue.mod in %s or any parent: run envsync from the repository or pass --root", dir)
		}
	}
}

// Error is one problem in the declarations, at the place it was declared.
type Error struct {
	Pos  model.Position
	Path string // CUE field path, e.g. syncs."chat-postgres".engine
	Msg  string
	also []string // other places in the estate's files the error involves
}

func (e Error) Error() string {
	var b strings.Builder
	if e.Pos.File != "" {
		fmt.Fprintf(&b, "%s:%d:%d: ", e.Pos.File, e.Pos.Line, e.Pos.Col)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found, in file order.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads the estate under root (the directory holding cue.mod) and
// resolves it. On failure the error is an Errors listing every problem.
func Load(root string) (*model.Estate, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	insts := load.Instances([]string{"./" + Package}, &load.Config{Dir: root, ModuleRoot: root})
	if len(insts) != 1 {
		return nil, fmt.Errorf("loading %s: want one CUE package, got %d", Package, len(insts))
	}
	inst := insts[0]
	if inst.Err != nil {
		return nil, (&resolver{root: root}).cueErrors(inst.Err)
	}
	if errs := unloaded(root, inst.BuildFiles); len(errs) > 0 {
		return nil, errs
	}
	r := resolver{root: root, pos: positions(root, inst)}
	v := cuecontext.New().BuildInstance(inst)
	// Validate, not Err: it collects every error, not the first.
	if err := v.Validate(cue.Concrete(true)); err != nil {
		es := r.cueErrors(err)
		es = append(es, r.unknownFields(v, es)...)
		sortErrors(es)
		return nil, es
	}
	e := r.estate(v)
	if len(r.errs) > 0 {
		sortErrors(r.errs)
		return nil, r.errs
	}
	LoadScripts(e)
	return e, nil
}

// LoadScripts reads every sanitise script the jobs of e name into
// e.Scripts, from under e.Root: a script that cannot be used gets its
// problem instead, which check reports at the job's position.
func LoadScripts(e *model.Estate) {
	e.Scripts = map[string]model.Script{}
	for _, s := range e.Syncs {
		for _, j := range s.Jobs {
			for _, p := range j.Sanitise {
				if _, done := e.Scripts[p]; !done && p != "" {
					e.Scripts[p] = loadScript(e.Root, p)
				}
			}
		}
	}
}

// loadScript reads the script at path (relative to root). It must be a
// regular file inside the repository, not a symbolic link, which could
// bring anything readable into a ConfigMap (/proc/self/environ, a CI
// token).
func loadScript(root, path string) model.Script {
	if filepath.IsAbs(path) || !filepath.IsLocal(filepath.FromSlash(path)) {
		return model.Script{Problem: "must be a path inside the repository, relative to its root"}
	}
	full := filepath.Join(root, filepath.FromSlash(path))
	fi, err := os.Lstat(full)
	switch {
	case err != nil:
		return model.Script{Problem: "does not exist (paths are relative to the repository root)"}
	case fi.Mode()&os.ModeSymlink != 0:
		return model.Script{Problem: "is a symbolic link: a script must be a file of the repository itself"}
	case !fi.Mode().IsRegular():
		return model.Script{Problem: "is not a regular file"}
	}
	realRoot, err1 := filepath.EvalSymlinks(root)
	realPath, err2 := filepath.EvalSymlinks(full)
	if err1 != nil || err2 != nil {
		return model.Script{Problem: "cannot be resolved"}
	}
	if rel, err := filepath.Rel(realRoot, realPath); err != nil || !filepath.IsLocal(rel) {
		return model.Script{Problem: "lies outside the repository (through a symbolically linked directory)"}
	}
	b, err := os.ReadFile(full)
	if err != nil {
		return model.Script{Problem: fmt.Sprintf("cannot be read: %v", err)}
	}
	return model.Script{Content: string(b)}
}

// unloaded finds the .cue files under the estate's package that CUE did
// not load: in a subfolder, or of another package. Ignored, their syncs
// would vanish from out/ without a word.
func unloaded(root string, loaded []*build.File) Errors {
	seen := map[string]bool{}
	for _, f := range loaded {
		seen[filepath.Clean(f.Filename)] = true
	}
	var errs Errors
	dir := filepath.Join(root, Package)
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".cue" || seen[filepath.Clean(p)] {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		pos := model.Position{File: filepath.ToSlash(rel), Line: 1, Col: 1}
		switch {
		case filepath.Dir(p) != dir:
			errs = append(errs, Error{Pos: pos, Msg: fmt.Sprintf("not loaded: envsync reads the .cue files of %s/ itself, not of its subfolders; move it to %s/", Package, Package)})
		default:
			pkg := "no package clause"
			if b, err := os.ReadFile(p); err == nil {
				if m := packageClause.FindSubmatch(b); m != nil {
					pkg = "package " + string(m[1])
				}
			}
			errs = append(errs, Error{Pos: pos, Msg: fmt.Sprintf("not loaded: it has %s; every file of %s/ must start with \"package %s\"", pkg, Package, Package)})
		}
		return nil
	})
	return errs
}

var packageClause = regexp.MustCompile(`(?m)^package\s+([\w.]+)`)

// cueErrors turns CUE's errors into Errors positioned in the estate's own
// files (not the schema's) whenever CUE knows such a position.
func (r *resolver) cueErrors(err error) Errors {
	root := r.root
	var out Errors
	seen := map[string]bool{}
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		var p []string
		for _, l := range e.Path() {
			if u, err := strconv.Unquote(l); err == nil {
				l = u
			}
			p = append(p, l)
		}
		ce := Error{Path: pathString(p), Msg: plainer(fmt.Sprintf(format, args...))}
		if ce.Msg == "field not allowed" {
			ce.Msg += didYouMean(p)
		}
		ce.Pos = pickPosition(root, cueerrors.Positions(e))
		ce.also = userPositions(root, cueerrors.Positions(e), ce.Pos)
		// An error raised by a constraint in another file (say the key of a
		// sync checked in estate.cue) belongs where the field is declared:
		// at the value there when CUE knows it, else at the declaration.
		if decl, depth := r.declared(p...); depth >= 2 && ce.Pos.File != "" {
			if at, ok := positionIn(root, cueerrors.Positions(e), decl.File); ok {
				ce.Pos = at
			} else {
				ce.Pos = decl
			}
		}
		if k := ce.Error(); !seen[k] {
			seen[k] = true
			out = append(out, ce)
		}
	}
	// A summary ("3 errors in empty disjunction") has no position of its
	// own: give it the position of the details that follow it.
	for i := range out {
		if out[i].Pos.File != "" {
			continue
		}
		for _, o := range out {
			if o.Path == out[i].Path && o.Pos.File != "" {
				out[i].Pos = o.Pos
				break
			}
		}
	}
	if len(out) == 0 {
		out = append(out, Error{Msg: err.Error()})
	}
	out = collapseEnums(out)
	out = dropOtherBranches(out)
	// Two declarations of different values: name the other one too.
	for i := range out {
		if len(out[i].also) > 0 && twoValues.MatchString(out[i].Msg) {
			out[i].Msg += " (also declared at " + strings.Join(out[i].also, ", ") + ")"
		}
	}
	sortErrors(out)
	return out
}

var (
	mismatchedType   = regexp.MustCompile(`^conflicting values (.+) and (int|string|bool|number|float|true|false|-?\d+) \(mismatched types \w+ and (\w+)\)$`)
	twoValues        = regexp.MustCompile(`^conflicting values ("(?:[^"\\]|\\.)*"|-?[\d.]+) and ("(?:[^"\\]|\\.)*"|-?[\d.]+)$`)
	emptyList        = regexp.MustCompile(`^incompatible list lengths \(0 and \d+\)$`)
	emptyDisjunction = regexp.MustCompile(`^\d+ errors in empty disjunction:?$`)
	conflicting      = regexp.MustCompile(`^conflicting values ("(?:[^"\\]|\\.)*"|[-\w.]+) and ("(?:[^"\\]|\\.)*"|[-\w.]+)$`)
	outOfBound       = regexp.MustCompile(`^invalid value (.+) \(out of bound =~"(.*)"\)$`)
)

// patterns say in words what the schema's regular expressions allow.
var patterns = map[string]string{
	`^([01][0-9]|2[0-3]):[0-5][0-9]$`: "a time of day HH:MM, from 00:00 to 23:59",
	`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`: "a name of lower-case letters, digits and '-', starting and ending with a letter or a digit",
	`^([0-9]+(\\.[0-9]+)?(h|m|s))+$`:  "a duration such as 45m, 1h30m or 90s",
	`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`:    "a date YYYY-MM-DD",
}

// plainer rewrites CUE's messages that do not say what is allowed.
func plainer(msg string) string {
	if m := mismatchedType.FindStringSubmatch(msg); m != nil {
		want := m[3] // the type the schema wants, whether it said a type or a default value
		article := "a"
		if want == "int" {
			article = "an"
		}
		return fmt.Sprintf("invalid value %s (want %s %s%s)", m[1], article, want, map[bool]string{true: ", without quotes"}[want != "string" && strings.HasPrefix(m[1], `"`)])
	}
	if emptyList.MatchString(msg) {
		return "empty list (want at least one element)"
	}
	if m := outOfBound.FindStringSubmatch(msg); m != nil {
		if want, ok := patterns[m[2]]; ok {
			return fmt.Sprintf("invalid value %s (want %s)", m[1], want)
		}
	}
	return msg
}

// userPositions are the places in the estate's package, other than at,
// where an error's values were declared.
func userPositions(root string, ps []token.Pos, at model.Position) []string {
	var out []string
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		mp := relPos(root, p)
		if !strings.HasPrefix(mp.File, Package+"/") || (mp.File == at.File && mp.Line == at.Line) {
			continue
		}
		if s := fmt.Sprintf("%s:%d:%d", mp.File, mp.Line, mp.Col); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// collapseEnums turns CUE's report of a value outside an enum (a summary,
// then "conflicting values A and X" once per allowed A) into one error that
// says what was written and what is allowed.
func collapseEnums(es Errors) Errors {
	byPath := map[string][]int{}
	for i, e := range es {
		byPath[e.Path] = append(byPath[e.Path], i)
	}
	drop := map[int]bool{}
	for _, idx := range byPath {
		var allowed []string
		value, summary, ok := "", -1, true
		for _, i := range idx {
			if emptyDisjunction.MatchString(es[i].Msg) {
				summary = i
				continue
			}
			m := conflicting.FindStringSubmatch(es[i].Msg)
			if m == nil || (value != "" && m[2] != value) {
				ok = false
				break
			}
			value = m[2]
			allowed = append(allowed, m[1])
		}
		if summary >= 0 && len(idx) == 2 && !ok {
			// A summary of one error: the error says it all.
			drop[summary] = true
			continue
		}
		if !ok || summary < 0 || len(allowed) < 2 {
			continue
		}
		for _, i := range idx {
			drop[i] = i != summary
		}
		es[summary].Msg = fmt.Sprintf("invalid value %s (want one of %s)", value, strings.Join(allowed, ", "))
	}
	out := es[:0:0]
	for i, e := range es {
		if !drop[i] {
			out = append(out, e)
		}
	}
	return out
}

// positionIn is the last of ps in file: CUE lists a constraint's
// position before the value's.
func positionIn(root string, ps []token.Pos, file string) (model.Position, bool) {
	var at model.Position
	found := false
	for _, p := range ps {
		if p.IsValid() && relPos(root, p).File == file {
			at, found = relPos(root, p), true
		}
	}
	return at, found
}

// pathString renders a CUE error path the way CUE prints field paths.
func pathString(p []string) string {
	parts := make([]string, len(p))
	for i, s := range p {
		if ast.IsValidIdent(s) || strings.HasPrefix(s, "#") {
			parts[i] = s
		} else {
			parts[i] = fmt.Sprintf("%q", s)
		}
	}
	return strings.Join(parts, ".")
}

// pickPosition prefers a position in the estate's package over one in the
// schema: the user edits the former.
func pickPosition(root string, ps []token.Pos) model.Position {
	var first model.Position
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		mp := relPos(root, p)
		if strings.HasPrefix(mp.File, Package+"/") {
			return mp
		}
		if first.File == "" {
			first = mp
		}
	}
	return first
}

func relPos(root string, p token.Pos) model.Position {
	f := p.Filename()
	if rel, err := filepath.Rel(root, f); err == nil && !strings.HasPrefix(rel, "..") {
		f = filepath.ToSlash(rel)
	}
	return model.Position{File: f, Line: p.Line(), Col: p.Column()}
}

func sortErrors(es Errors) {
	slices.SortStableFunc(es, func(a, b Error) int {
		if c := strings.Compare(a.Pos.File, b.Pos.File); c != 0 {
			return c
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col - b.Pos.Col
		}
		return strings.Compare(a.Msg, b.Msg)
	})
}

// positions maps a field path (labels joined by "\x00") to where the estate
// declares it first. CUE reports the schema's position for a value unified
// with a definition, so the estate's own syntax is read for these.
func positions(root string, inst *build.Instance) map[string]model.Position {
	out := map[string]model.Position{}
	var walk func(prefix []string, s *ast.StructLit)
	walk = func(prefix []string, s *ast.StructLit) {
		for _, d := range s.Elts {
			f, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			name, _, err := ast.LabelName(f.Label)
			if err != nil {
				continue
			}
			path := append(slices.Clone(prefix), name)
			k := strings.Join(path, "\x00")
			if _, ok := out[k]; !ok {
				out[k] = relPos(root, f.Pos())
			}
			if len(path) < 6 {
				if sl, ok := f.Value.(*ast.StructLit); ok {
					walk(path, sl)
				}
			}
		}
	}
	for _, f := range inst.Files {
		walk(nil, &ast.StructLit{Elts: f.Decls})
	}
	return out
}

// The decoded shapes of the schema's definitions.

type resourcesDecl struct {
	Requests struct{ CPU, Memory string } `json:"requests"`
	Limits   struct{ CPU, Memory string } `json:"limits"`
	Tmp      string                       `json:"tmp"`
	Scratch  string                       `json:"scratch"`
}

type environmentDecl struct {
	Bucket          string          `json:"bucket"`
	Namespace       string          `json:"namespace"`
	Sanitise        bool            `json:"sanitise"`
	TransformLimit  string          `json:"transformLimit"`
	RestoreFrom     string          `json:"restoreFrom"`
	Publish         string          `json:"publish"`
	RawBucket       string          `json:"rawBucket"`
	SanitisedOnly   bool            `json:"sanitisedOnly"`
	DumpFormat      string          `json:"dumpFormat"`
	Retention       struct {
		Keep int `json:"keep"`
		Days int `json:"days"`
	} `json:"retention"`
	BucketExpiryDays int `json:"bucketExpiryDays"`
	Class           string          `json:"class"`
	UndeclaredClass string          `json:"undeclaredClass"`
	TLS             tlsDecl         `json:"tls"`
	Monitoring      *monitoringDecl `json:"monitoring"`
	Grafana         *struct {
		URL        string `json:"url"`
		Datasource string `json:"datasource"`
	} `json:"grafana"`
	Suspend        suspendDecl       `json:"suspend"`
	PodAnnotations map[string]string `json:"podAnnotations"`
	ServiceAccount *struct {
		Name        string            `json:"name"`
		Create      bool              `json:"create"`
		Annotations map[string]string `json:"annotations"`
	} `json:"serviceAccount"`
	JobNamePrefix string `json:"jobNamePrefix"`
	DNSConfig     *struct {
		Nameservers []string          `json:"nameservers"`
		Searches    []string          `json:"searches"`
		Options     map[string]string `json:"options"`
	} `json:"dnsConfig"`
	ExternalSecrets *struct {
		Store struct {
			Name string `json:"name"`
			Kind string `json:"kind"`
		} `json:"store"`
		RemoteKey        string `json:"remoteKey"`
		UsernameProperty string `json:"usernameProperty"`
		PasswordProperty string `json:"passwordProperty"`
		RefreshInterval  string `json:"refreshInterval"`
	} `json:"externalSecrets"`
}

type tlsDecl struct {
	Mode string  `json:"mode"`
	CA   *caDecl `json:"ca"`
}

type caDecl struct {
	ConfigMap string `json:"configMap"`
	Secret    string `json:"secret"`
	Key       string `json:"key"`
}

type classDecl struct {
	Days      []int  `json:"days"`
	Window    string `json:"window"`
	ArmedDays []int  `json:"armedDays"`
}

type tierDecl struct {
	LongRunning struct {
		Backup  string `json:"backup"`
		Restore string `json:"restore"`
	} `json:"longRunning"`
	Deadline  string        `json:"deadline"`
	Resources resourcesDecl `json:"resources"`
}

type alertingDecl struct {
	Severity      string            `json:"severity"`
	Labels        map[string]string `json:"labels"`
	RunbookURL    string            `json:"runbookURL"`
	DashboardURL  string            `json:"dashboardURL"`
	DashboardUID  string            `json:"dashboardUID"`
	DashboardName string            `json:"dashboardName"`
	Undeclared    *struct {
		Tier  string `json:"tier"`
		Class string `json:"class"`
	} `json:"undeclared"`
}

type estateDecl struct {
	Image        string                     `json:"image"`
	Pushgateway  string                     `json:"pushgateway"`
	Environments map[string]environmentDecl `json:"environments"`
	Classes      map[string]classDecl       `json:"classes"`
	Tiers        map[string]tierDecl        `json:"tiers"`
	Alerting     alertingDecl               `json:"alerting"`
	Monitoring   monitoringDecl             `json:"monitoring"`
	Scratch      struct {
		Images map[string]string `json:"images"`
	} `json:"scratch"`
	Syncs map[string]syncDecl `json:"syncs"`
}

// topLevel are the fields of #Estate; any other top-level field is a typo.
var topLevel = []string{"image", "pushgateway", "environments", "classes", "tiers", "alerting", "monitoring", "scratch", "syncs"}

type monitoringDecl struct {
	RuleNamespace      string            `json:"ruleNamespace"`
	RuleLabels         map[string]string `json:"ruleLabels"`
	DashboardNamespace string            `json:"dashboardNamespace"`
	DashboardLabels    map[string]string `json:"dashboardLabels"`
}

type syncDecl struct {
	Name         string            `json:"name"`
	Instance     string            `json:"instance"`
	Engine       string            `json:"engine"`
	Database     string            `json:"database"`
	Databases    []string          `json:"databases"`
	Owner        string            `json:"owner"`
	Host         string            `json:"host"`
	Port         int               `json:"port"`
	Secret       string            `json:"secret"`
	Tier         string            `json:"tier"`
	BackupTier   string            `json:"backupTier"`
	RestoreTier  string            `json:"restoreTier"`
	Suspend      suspendDecl       `json:"suspend"`
	Ensure       string            `json:"ensure"`
	Resources    *resourcesDecl    `json:"resources"`
	MaxRunTime   string            `json:"maxRunTime"`
	Env          map[string]string `json:"env"`
	PersonalData bool              `json:"personalData"`
	// Classification: table -> column -> "personal" or "public".
	Classification      map[string]map[string]string `json:"classification"`
	AllowedEmailDomains []string                     `json:"allowedEmailDomains"`
	KeepSnapshots       int                          `json:"keepSnapshots"`
	SearchAuth          string                       `json:"searchAuth"`
	TLS                 *tlsDecl                     `json:"tls"`
	Environments        map[string]jobDecl           `json:"environments"`
}

type jobDecl struct {
	At                     string       `json:"at"`
	Class                  string       `json:"class"`
	Schedule               string       `json:"schedule"`
	Operations             []string     `json:"operations"`
	RestoreFrom            string       `json:"restoreFrom"`
	Sanitise               any          `json:"sanitise"`
	Suspend                *suspendDecl `json:"suspend"`
	Ensure                 string       `json:"ensure"`
	AllowProductionRestore bool         `json:"allowProductionRestore"`
	AcknowledgeHazard      string       `json:"acknowledgeHazard"`
	TLS                    *tlsDecl     `json:"tls"`
	MaxRunTime             string       `json:"maxRunTime"`
	Endpoint               string       `json:"endpoint"`
	Repository             string       `json:"repository"`
}

// suspendDecl is a suspend field: true or false, or {until, reason}.
type suspendDecl struct {
	On     bool
	Until  string
	Reason string
}

func (s *suspendDecl) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &s.On); err == nil {
		return nil
	}
	var d struct{ Until, Reason string }
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	*s = suspendDecl{On: true, Until: d.Until, Reason: d.Reason}
	return nil
}

// dropOtherBranches drops, for a field that may be a value or a struct
// (suspend: true or {until, reason}), the complaint that a struct written
// there is not the value, when the struct's own fields have errors: those
// are what the user got wrong.
func dropOtherBranches(es Errors) Errors {
	return slices.DeleteFunc(es, func(e Error) bool {
		if !strings.HasPrefix(e.Msg, "invalid value {") {
			return false
		}
		return slices.ContainsFunc(es, func(o Error) bool { return strings.HasPrefix(o.Path, e.Path+".") })
	})
}

// unknownFields reports the fields of syncs, their jobs and environments
// that no declaration has, which CUE leaves out when something else in
// the same struct is wrong: every mistake is reported at once. reported
// are the errors CUE gave, so that none is said twice.
func (r *resolver) unknownFields(v cue.Value, reported Errors) Errors {
	var out Errors
	check := func(s cue.Value, allowed []string, path ...string) {
		it, err := s.Fields()
		if err != nil {
			return
		}
		for it.Next() {
			name := it.Selector().Unquoted()
			if slices.Contains(allowed, name) {
				continue
			}
			p := append(slices.Clone(path), name)
			e := Error{Path: pathString(p), Msg: "field not allowed" + didYouMean(p), Pos: r.at(p...)}
			if !slices.ContainsFunc(reported, func(o Error) bool { return o.Path == e.Path }) {
				out = append(out, e)
			}
		}
	}
	each := func(s cue.Value, f func(name string, v cue.Value)) {
		if it, err := s.Fields(); err == nil {
			for it.Next() {
				f(it.Selector().Unquoted(), it.Value())
			}
		}
	}
	each(v.LookupPath(cue.ParsePath("syncs")), func(sync string, s cue.Value) {
		check(s, jsonFields(reflect.TypeFor[syncDecl]()), "syncs", sync)
		each(s.LookupPath(cue.ParsePath("environments")), func(env string, j cue.Value) {
			check(j, jsonFields(reflect.TypeFor[jobDecl]()), "syncs", sync, "environments", env)
		})
	})
	each(v.LookupPath(cue.ParsePath("environments")), func(env string, ev cue.Value) {
		check(ev, jsonFields(reflect.TypeFor[environmentDecl]()), "environments", env)
	})
	return out
}

// didYouMean suggests, for a field not allowed at path p, the allowed
// field of that place nearest to it in spelling.
func didYouMean(p []string) string {
	var allowed []string
	switch {
	case len(p) == 1:
		allowed = topLevel
	case len(p) == 3 && p[0] == "syncs":
		allowed = jsonFields(reflect.TypeFor[syncDecl]())
	case len(p) == 5 && p[0] == "syncs" && p[2] == "environments":
		allowed = jsonFields(reflect.TypeFor[jobDecl]())
	case len(p) == 3 && p[0] == "environments":
		allowed = jsonFields(reflect.TypeFor[environmentDecl]())
	}
	got := p[len(p)-1]
	best, bestDist := "", 3 // suggest only near misses
	for _, a := range allowed {
		if d := names.Distance(got, a); d < bestDist {
			best, bestDist = a, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// jsonFields are the JSON names of t's fields: the fields a declaration
// may have there.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}
