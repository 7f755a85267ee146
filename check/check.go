// Package check finds what is wrong or risky in a resolved estate: errors
// that stop generation (unknown names, bad crons, restores with nothing to
// restore, unsanitised personal data) and ordering hazards, warnings that a
// restore may start before the upstream backup it needs has finished.
package check

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/runner/engine/sqlscript"
	"github.com/envsync/envsync/timing"
)

// MaxCronJobName is the longest CronJob name Kubernetes accepts.
const MaxCronJobName = contract.MaxCronJobName

// Finding is one error or hazard, at the place it was declared.
type Finding struct {
	Pos         model.Position
	Sync        string // empty for estate-wide findings
	Environment string // empty for sync-wide findings
	Msg         string
	// Hazard marks an ordering hazard: a warning, not an error.
	Hazard bool
	// Warning marks another finding that is not an error: a declaration
	// that is valid but most likely not what was meant.
	Warning bool
	// Note marks what is neither an error nor a risk, only worth knowing: a
	// restore whose data is older than the schedule needs it to be.
	Note bool
	// Acknowledged is the estate's reason for accepting a hazard.
	Acknowledged string
}

func (f Finding) String() string {
	var b strings.Builder
	if f.Pos.File != "" {
		fmt.Fprintf(&b, "%s:%d:%d: ", f.Pos.File, f.Pos.Line, f.Pos.Col)
	}
	switch {
	case f.Sync != "" && f.Environment != "":
		fmt.Fprintf(&b, "sync %q in %s: ", f.Sync, f.Environment)
	case f.Sync != "":
		fmt.Fprintf(&b, "sync %q: ", f.Sync)
	case f.Environment != "":
		fmt.Fprintf(&b, "environment %q: ", f.Environment)
	}
	b.WriteString(f.Msg)
	return b.String()
}

// Findings are sorted by file, line and message.
type Findings []Finding

// Errors returns the findings that are errors.
func (fs Findings) Errors() Findings {
	return slices.DeleteFunc(slices.Clone(fs), func(f Finding) bool { return f.Hazard || f.Warning || f.Note })
}

// Notes returns the findings that are notes.
func (fs Findings) Notes() Findings {
	return slices.DeleteFunc(slices.Clone(fs), func(f Finding) bool { return !f.Note })
}

// Warnings returns the findings that are warnings but not hazards.
func (fs Findings) Warnings() Findings {
	return slices.DeleteFunc(slices.Clone(fs), func(f Finding) bool { return !f.Warning })
}

// Hazards returns every ordering hazard, acknowledged or not.
func (fs Findings) Hazards() Findings {
	return slices.DeleteFunc(slices.Clone(fs), func(f Finding) bool { return !f.Hazard })
}

// Unacknowledged returns the hazards the estate has not accepted.
func (fs Findings) Unacknowledged() Findings {
	return slices.DeleteFunc(fs.Hazards(), func(f Finding) bool { return f.Acknowledged != "" })
}

// Err is nil when there is no error, else one error listing them all.
func (fs Findings) Err() error {
	errs := fs.Errors()
	if len(errs) == 0 {
		return nil
	}
	lines := make([]string, len(errs))
	for i, f := range errs {
		lines[i] = f.String()
	}
	return fmt.Errorf("%d error(s) in the estate:\n%s", len(errs), strings.Join(lines, "\n"))
}

type checker struct {
	e    *model.Estate
	fs   Findings
	flow *timing.Flow
}

// Estate checks e and returns every finding, sorted.
func Estate(e *model.Estate) Findings {
	c := &checker{e: e, flow: timing.NewFlow(e)}
	c.environments()
	c.classes()
	c.syncs()
	c.hazards()
	c.bucketExpiries()
	if u := e.Alerting.RunbookURL; strings.Contains(u, "{{") || strings.Contains(u, "}}") {
		c.fs = append(c.fs, Finding{Msg: fmt.Sprintf("alerting.runbookURL %q holds {{ or }}: Prometheus would read it as a template and refuse every rule", u)})
	}
	if e.Alerting.Undeclared == nil {
		c.fs = append(c.fs, Finding{Warning: true, Msg: `alerting.undeclared is not set: a series that no job declares (a job made by hand under another name, another chart's) gets "operation failed" only, no "taking a long time" or "not completed"; name a tier and a class there`})
	}
	slices.SortStableFunc(c.fs, func(a, b Finding) int {
		if x := strings.Compare(a.Pos.File, b.Pos.File); x != 0 {
			return x
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return strings.Compare(a.Msg, b.Msg)
	})
	return c.fs
}

func (c *checker) add(pos model.Position, sync, env, format string, args ...any) {
	c.fs = append(c.fs, Finding{Pos: pos, Sync: sync, Environment: env, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) environments() {
	for _, env := range c.e.Environments {
		for _, msg := range validation.IsDNS1123Label(env.Name) {
			c.add(model.Position{}, "", env.Name, "name is not usable in Kubernetes labels and paths: %s", msg)
		}
		if env.RestoreFrom != "" {
			if _, ok := c.e.Environment(env.RestoreFrom); !ok {
				c.add(model.Position{}, "", env.Name, "restores from unknown environment %q", env.RestoreFrom)
			}
		}
		if _, ok := c.e.Class(env.Class); !ok {
			c.add(model.Position{}, "", env.Name, "unknown default class %q", env.Class)
		}
		if _, ok := c.e.Class(env.UndeclaredClass); !ok && env.UndeclaredClass != "" {
			c.add(model.Position{}, "", env.Name, "unknown undeclaredClass %q", env.UndeclaredClass)
		}
		if env.RawBucket != "" && !env.PublishSanitised {
			c.add(model.Position{}, "", env.Name, "rawBucket is set but the environment does not publish sanitised dumps (publish: \"sanitised\"): its backups write raw data to its bucket")
		}
		for _, other := range c.e.Environments {
			if env.RawBucket != "" && env.RawBucket == other.Bucket {
				c.add(model.Position{}, "", env.Name, "rawBucket %s is the bucket of environment %s: the raw dumps would be published to every restore reading it", env.RawBucket, other.Name)
			}
		}
	}
}

func (c *checker) classes() {
	for _, cl := range c.e.Classes {
		if len(cl.Days) == 0 {
			c.add(model.Position{}, "", "", "class %q runs on no day", cl.Name)
		}
		if cl.Window <= 0 {
			c.add(model.Position{}, "", "", "class %q has no \"not completed\" window", cl.Name)
		}
	}
}

func (c *checker) syncs() {
	names := map[string]map[string]model.Position{} // environment -> job name -> first declaration
	restores := map[[3]string]string{}              // environment, instance, database -> sync restoring it
	type declared struct {
		sync string
		pos  model.Position
	}
	writers := map[[4]string]declared{} // environment, instance, database, operation -> the job backing up or transforming it
	for i := range c.e.Syncs {
		s := &c.e.Syncs[i]
		if kind, ok := contract.EngineNamed(string(s.Engine)); !ok {
			c.add(s.Pos, s.Name, "", "unknown engine %q (want %s)", s.Engine, contract.EngineNames())
		} else if kind.Kind == contract.Snapshot && len(s.Databases) > 1 {
			c.add(s.Pos, s.Name, "", "a search sync copies one pattern of indices (database), not %d", len(s.Databases))
		}
		if len(s.Name) > MaxCronJobName {
			c.add(s.Pos, s.Name, "", "name is %d characters; Kubernetes accepts at most %d for a CronJob", len(s.Name), MaxCronJobName)
		}
		for _, msg := range validation.IsDNS1123Label(s.Name) {
			if !strings.Contains(msg, "must be no more than") {
				c.add(s.Pos, s.Name, "", "name is not a valid Kubernetes name: %s", msg)
			}
		}
		if len(s.Databases) == 0 {
			c.add(s.Pos, s.Name, "", "no database")
		}
		c.classification(s)
		if len(s.Databases) > 1 {
			short := map[string]string{}
			for _, db := range s.Databases {
				name := contract.DatabaseShortName(db)
				if other, dup := short[name]; dup {
					c.add(s.Pos, s.Name, "", "databases %q and %q would both be %q in the names of the job's containers: rename one", other, db, name)
				}
				short[name] = db
				// The longest container name: "1-transform-<short>".
				for _, msg := range validation.IsDNS1123Label("1-transform-" + name) {
					c.add(s.Pos, s.Name, "", "database %q gives container names like %q, which Kubernetes refuses: %s", db, "1-transform-"+name, msg)
				}
			}
		}
		for _, db := range s.Databases {
			if strings.Contains(db, "/") && s.Engine != model.OpenSearch {
				c.add(s.Pos, s.Name, "", "database %q: a '/' cannot be held by the object layout <instance>/<time>-<database>.<ext>", db)
			}
		}
		// What the API server would refuse at deploy time is refused here,
		// with the declaration's place.
		if r := s.Resources; r != nil {
			for _, q := range r.Quantities() {
				if _, err := resource.ParseQuantity(q.Value); q.Value != "" && err != nil {
					c.add(s.Pos, s.Name, "", "resources.%s %q is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 4Gi)", q.Name, q.Value)
				}
			}
		}
		for _, msg := range validation.IsDNS1123Subdomain(s.Secret) {
			c.add(s.Pos, s.Name, "", "secret %q is not a Kubernetes name: %s", s.Secret, msg)
		}
		if len(s.Jobs) == 0 {
			c.fs = append(c.fs, Finding{Pos: s.Pos, Sync: s.Name, Warning: true,
				Msg: "runs in no environment (environments is empty): nothing is generated for it"})
		}
		for _, op := range model.Operations {
			if t := s.Tier[op]; t != "" {
				if _, ok := c.e.Tier(t); !ok {
					c.add(s.Pos, s.Name, "", "unknown %s tier %q (declared: %s)", op, t, c.e.TierNames())
				}
			}
		}
		for k := range s.Jobs {
			j := &s.Jobs[k]
			if names[j.Environment] == nil {
				names[j.Environment] = map[string]model.Position{}
			}
			if first, dup := names[j.Environment][s.Name]; dup && j.Ensure != model.Absent {
				c.add(j.Pos, s.Name, j.Environment, "duplicate job name: also declared at %s:%d", first.File, first.Line)
			} else if j.Ensure != model.Absent {
				names[j.Environment][s.Name] = j.Pos
			}
			c.job(s, j)
			// Two jobs backing up (or transforming) one database in one
			// environment share its objects, its pointer and its metric
			// series: each would hide the other's failures.
			for _, op := range []model.Operation{model.Backup, model.Publish, model.Transform} {
				if !j.Has(op) || j.Ensure == model.Absent {
					continue
				}
				for _, db := range s.Databases {
					key := [4]string{j.Environment, s.Instance, db, string(op)}
					if other, ok := writers[key]; ok && other.sync != s.Name {
						c.add(j.Pos, s.Name, j.Environment, "%s of %s/%s is also declared by sync %q at %s:%d: they would share its dumps, pointer and metric series", op, s.Instance, db, other.sync, other.pos.File, other.pos.Line)
					} else {
						writers[key] = declared{s.Name, j.Pos}
					}
				}
			}
			if j.Has(model.Restore) && j.Runs() {
				for _, db := range s.Databases {
					key := [3]string{j.Environment, s.Instance, db}
					if other, ok := restores[key]; ok {
						c.add(j.Pos, s.Name, j.Environment, "restores %s/%s, which sync %q restores too: only one running job may overwrite a database", s.Instance, db, other)
					} else {
						restores[key] = s.Name
					}
				}
			}
		}
	}
}

// Now is the time vet compares suspensions' dates with.
var Now = time.Now

func (c *checker) job(s *model.Sync, j *model.Job) {
	add := func(format string, args ...any) { c.add(j.Pos, s.Name, j.Environment, format, args...) }
	if sp := j.Suspension; j.Suspend && !sp.Until.IsZero() && !Now().Before(sp.Expires()) {
		c.fs = append(c.fs, Finding{Pos: j.Pos, Sync: s.Name, Environment: j.Environment, Warning: true,
			Msg: fmt.Sprintf("suspended until %s (%s), a date that has passed: resume the job or suspend it again with a new date and reason; the alert %s fires meanwhile",
				sp.Until.Format(time.DateOnly), sp.Reason, "DatabaseJobSuspensionExpired")})
	}
	env, ok := c.e.Environment(j.Environment)
	if !ok {
		add("unknown environment %q", j.Environment)
		return
	}
	class, classOK := c.e.Class(j.Class)
	if !classOK {
		add("unknown class %q", j.Class)
	}
	if name := env.CronJobName(s.Name); env.JobNamePrefix != "" && len(name) > MaxCronJobName {
		add("CronJob name %q (jobNamePrefix %q and the sync's name) is %d characters; Kubernetes accepts at most %d", name, env.JobNamePrefix, len(name), MaxCronJobName)
	}
	if (j.TLS.Mode == "verify-ca" || j.TLS.Mode == "verify-full") && j.TLS.CA == nil {
		add("tls mode %s checks the server's certificate against a CA bundle, but none is declared: set tls.ca (a configMap or secret of namespace %q, and its key)", j.TLS.Mode, env.Namespace)
	}
	if sched, err := timing.Parse(j.Schedule); err != nil {
		add("invalid cron schedule %q: %v", j.Schedule, err)
	} else if classOK {
		// The class decides when "not completed" is armed: it must run on
		// the days the schedule does, or the alert fires on a normal week.
		if got, want := dayList(timing.RunDays(sched)), dayList(class.Days); got != want {
			add("schedule %q runs on days %s but its class %s runs on days %s: set class to one that matches", j.Schedule, got, class.Name, want)
		}
	}
	switch j.Ensure {
	case model.Present, model.Disabled, model.Absent:
	default:
		add("ensure %q: want present, disabled or absent", j.Ensure)
	}
	if len(j.Operations) == 0 {
		add("no operation")
	}
	c.search(s, j, add)

	for _, db := range sortedKeys(j.Sanitise) {
		p := j.Sanitise[db]
		switch {
		case p == "":
			add("sanitise script for %s is empty", db)
		default:
			if sc, ok := c.e.Scripts[p]; !ok {
				add("sanitise script %q was not loaded (a bug of envsync: declare.LoadScripts reads every script)", p)
			} else if sc.Problem != "" {
				add("sanitise script %q %s", p, sc.Problem)
			}
		}
	}
	if len(j.Sanitise) > 0 && !j.Has(model.Restore) && !j.Has(model.Transform) && !j.Has(model.Publish) {
		add("has sanitise scripts but neither restores, transforms nor publishes")
	}
	c.publish(s, j, env, add)
	if j.Has(model.Transform) && len(j.Sanitise) == 0 {
		add("transforms but has no sanitise script to run")
	}
	if j.Has(model.Transform) && j.Ensure != model.Absent && contract.IsProduction(env.Name) && !j.AllowProductionRestore {
		add("transforms in %s, whose name says production (contract.IsProduction, as the runner reads it): set allowProductionRestore: true if that is really meant", env.Name)
	}

	if !j.Has(model.Restore) || j.Ensure == model.Absent {
		return
	}
	if contract.IsProduction(env.Name) && !j.AllowProductionRestore {
		add("restores into %s, whose name says production (contract.IsProduction, as the runner reads it): set allowProductionRestore: true if that is really meant", env.Name)
	}
	if j.RestoreFrom == "" {
		add("restores, but neither the job nor environment %s says where from (restoreFrom)", env.Name)
		return
	}
	if _, ok := c.e.Environment(j.RestoreFrom); !ok {
		add("restores from unknown environment %q", j.RestoreFrom)
		return
	}
	for _, db := range s.Databases {
		if len(c.flow.Upstream(s, j, db)) == 0 && !(j.RestoreFrom == j.Environment && j.Stores()) {
			add("restores %s/%s from %s, but no job in %s backs that database up", s.Instance, db, j.RestoreFrom, j.RestoreFrom)
		}
		for _, u := range c.flow.Upstream(s, j, db) {
			if up, ok := c.e.Environment(u.Job.Environment); ok && u.Job.Has(model.Backup) && up.KeepsRaw(u.Sync) {
				add("restores %s/%s from %s, whose backup of it is raw and kept in its raw bucket %s, which no restore reads: publish it there instead", s.Instance, db, u.Job.Environment, up.RawBucket)
			}
		}
	}
	// Data landing in an environment that requires sanitising: each database
	// needs a script, here or upstream, unless the sync has been reviewed as
	// holding no personal data. Restoring the environment's own backup
	// brings nothing new in.
	if env.Sanitise && !s.NoPersonalData && j.RestoreFrom != env.Name && s.Engine == model.OpenSearch {
		add("restores search indexes into %s, which requires sanitising, and indexes cannot be sanitised: declare personalData: false after reviewing what they hold", env.Name)
	} else if env.Sanitise && !s.NoPersonalData && j.RestoreFrom != env.Name {
		for _, db := range s.Databases {
			if j.Sanitise[db] == "" && !c.sanitisedUpstream(s, j, db, len(c.e.Environments)) {
				add("restores %s into %s, which requires sanitising, but no sanitise script covers it here or upstream in %s (or declare personalData: false after reviewing the data)", db, env.Name, j.RestoreFrom)
			}
		}
	}
	if env.SanitisedOnly && !s.NoPersonalData && j.RestoreFrom != env.Name {
		for _, db := range s.Databases {
			if path, raw := c.rawPath(s, j, db, len(c.e.Environments)); raw {
				add("restores %s into %s, which holds only sanitised data (sanitisedOnly), but raw data can reach it: %s (publish sanitised dumps upstream, or declare personalData: false after reviewing the data)", db, env.Name, path)
			}
		}
	}
}

// publish checks a job that publishes, and a raw backup in an environment
// whose restores downstream take its dumps as sanitised.
func (c *checker) publish(s *model.Sync, j *model.Job, env model.Environment, add func(string, ...any)) {
	engine, _ := contract.EngineNamed(string(s.Engine))
	if j.Has(model.Backup) && env.KeepsRaw(s) && env.RawBucket == "" && j.Ensure != model.Absent {
		add("backs up raw data in %s, which publishes sanitised dumps and keeps raw ones nowhere: declare rawBucket (where such a backup goes, and no restore reads), publish instead (the default here), or declare personalData: false after reviewing the data", env.Name)
	}
	if !j.Has(model.Publish) {
		return
	}
	if j.Has(model.Backup) {
		add("both backs up and publishes: a job stores one dump of a database per run; keep publish")
	}
	if !engine.Scripts {
		add("publishes, which runs a sanitise script on a scratch server, but %s has no scripts", s.Engine)
		return
	}
	for _, db := range s.Databases {
		if j.Sanitise[db] == "" {
			add("publishes %s without a sanitise script: a publish stores what the script leaves of the data, so declare sanitise (or, after reviewing the data, personalData: false and a backup)", db)
		}
	}
	if c.e.ScratchImages[s.Engine] == "" {
		add("publishes, but the estate names no scratch image for %s: add `scratch: schema.#Scratch` to the estate, or set scratch.images.%s", s.Engine, s.Engine)
	}
}

// rawPath says whether a dump of db that j may restore can hold raw data,
// and the path it comes by ("integration <- staging <- production
// (backup)"): an upstream job that backs it up raw in an environment that
// is not sanitisedOnly. A publish upstream, or an upstream environment that
// is sanitisedOnly (checked in its turn), is sanitised.
func (c *checker) rawPath(s *model.Sync, j *model.Job, db string, depth int) (string, bool) {
	for _, u := range c.flow.Upstream(s, j, db) {
		if u.Job.Has(model.Publish) {
			continue
		}
		if env, ok := c.e.Environment(u.Job.Environment); ok && env.SanitisedOnly {
			continue
		}
		path := j.Environment + " <- " + u.Job.Environment
		for up := u; up.Job.Has(model.Restore) && up.Job.RestoreFrom != "" && depth > 0; depth-- {
			next := c.flow.Upstream(up.Sync, up.Job, db)
			if len(next) == 0 {
				break
			}
			up = next[0]
			path += " <- " + up.Job.Environment
		}
		return path + " (backup, raw)", true
	}
	return "", false
}

// search checks what a search job needs, and refuses it on a database job:
// its cluster and repository here, and for a restore the repository of the
// environment it reads; no transform or sanitise script.
func (c *checker) search(s *model.Sync, j *model.Job, add func(string, ...any)) {
	if s.Engine != model.OpenSearch {
		if j.Endpoint != "" || j.Repository != "" {
			add("endpoint and repository are a search (opensearch) job's; this sync's engine is %s", s.Engine)
		}
		return
	}
	if j.Endpoint == "" || j.Repository == "" {
		add("a search job needs its cluster's endpoint and its snapshot repository")
	}
	if j.Has(model.Transform) || len(j.Sanitise) > 0 {
		add("search indexes have no transform or sanitise script: a search sync copies snapshots only")
	}
	if !j.Has(model.Restore) || j.RestoreFrom == "" {
		return
	}
	for _, up := range s.Jobs {
		if up.Environment == j.RestoreFrom && up.Repository != "" {
			return
		}
	}
	add("restores from %s, where the sync names no snapshot repository to read", j.RestoreFrom)
}

// sanitisedUpstream reports whether every dump of db that j may restore was
// sanitised before it was written: each upstream backup job sanitised it
// itself, restored it sanitised from further up, or lives in an
// environment that requires sanitising (and is checked in turn).
func (c *checker) sanitisedUpstream(s *model.Sync, j *model.Job, db string, depth int) bool {
	ups := c.flow.Upstream(s, j, db)
	if len(ups) == 0 || depth == 0 {
		return false
	}
	for _, u := range ups {
		if u.Job.Sanitise[db] != "" {
			continue
		}
		if env, ok := c.e.Environment(u.Job.Environment); ok && env.Sanitise {
			continue
		}
		if u.Job.Has(model.Restore) && c.sanitisedUpstream(u.Sync, u.Job, db, depth-1) {
			continue
		}
		return false
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func dayList(days []time.Weekday) string {
	ds := slices.Clone(days)
	slices.Sort(ds)
	ds = slices.Compact(ds)
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprint(int(d))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// classification checks what a sync declares for its personal-data gate,
// and refuses a sanitising step without one: nothing would prove that its
// script did its work, nor that no column was added upstream since it was
// written. A sync over several databases cannot be gated (the gate checks
// one database), so one that sanitises is refused too: each database with
// personal data becomes a sync of its own.
func (c *checker) classification(s *model.Sync) {
	engine, _ := contract.EngineNamed(string(s.Engine))
	if s.Classification != nil {
		if !engine.Gate {
			c.add(s.Pos, s.Name, "", "classification: the personal-data gate is not built for %s; remove it", s.Engine)
		} else if len(s.Databases) > 1 {
			c.add(s.Pos, s.Name, "", "classification: the personal-data gate checks one database; this sync has %d", len(s.Databases))
		} else {
			c.scriptsAgainstClassification(s)
		}
		return
	}
	if !engine.Gate {
		return // nothing to declare (search)
	}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		env, ok := c.e.Environment(j.Environment)
		if !ok || !j.Runs() || len(j.Sanitise) == 0 {
			continue
		}
		what := ""
		switch {
		case j.Has(model.Publish):
			what = "publishes sanitised dumps from " + j.Environment
		case env.Sanitise && j.Has(model.Restore) && !j.Has(model.Transform):
			what = "sanitises into " + j.Environment
		default:
			continue
		}
		if len(s.Databases) > 1 {
			c.add(j.Pos, s.Name, j.Environment, "%s over %d databases: the personal-data gate checks one database, so nothing would prove the script's work; declare each database with personal data as a sync of its own, with its classification", what, len(s.Databases))
			continue
		}
		c.add(j.Pos, s.Name, j.Environment, "%s without a classification: nothing would prove the script left no personal data, nor that no column was added upstream since it was written; declare classification (every table and column, personal or public: `envsync classify` drafts one)", what)
	}
}

// scriptsAgainstClassification reads each sanitise script of s, where a
// plain reading can tell what its statements change, against the
// classification: a table or column the classification does not name is a
// typo on one side, and a personal column no statement changes is one the
// gate will refuse at run time. Warnings: the reading is not the server's.
func (c *checker) scriptsAgainstClassification(s *model.Sync) {
	if s.Engine == model.Mongo {
		return // JavaScript: its effects are read by the gate at run time
	}
	dialect := sqlscript.Postgres
	if s.Engine == model.MySQL {
		dialect = sqlscript.MySQL
	}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		for _, p := range sortedKeys(j.Sanitise) {
			path := j.Sanitise[p]
			stmts, err := sqlscript.Split(c.e.Scripts[path].Content, dialect)
			if err != nil || c.e.Scripts[path].Problem != "" {
				continue
			}
			changed := map[string]map[string]bool{} // table -> columns ("*": every row)
			for _, st := range stmts {
				t, ok := sqlscript.Targets(st)
				if !ok {
					continue
				}
				table := strings.TrimPrefix(t.Table, "public.")
				cols, known := s.Classification[table]
				if !known {
					c.fs = append(c.fs, Finding{Pos: j.Pos, Sync: s.Name, Environment: j.Environment, Warning: true,
						Msg: fmt.Sprintf("sanitise script %s line %d changes table %s, which the classification does not name", path, st.Line, table)})
					continue
				}
				if changed[table] == nil {
					changed[table] = map[string]bool{}
				}
				if st.Keyword != "UPDATE" {
					changed[table]["*"] = true
				}
				for _, col := range t.Columns {
					changed[table][col] = true
					if _, ok := cols[col]; !ok {
						c.fs = append(c.fs, Finding{Pos: j.Pos, Sync: s.Name, Environment: j.Environment, Warning: true,
							Msg: fmt.Sprintf("sanitise script %s line %d sets %s.%s, which the classification does not name", path, st.Line, table, col)})
					}
				}
			}
			for _, table := range slices.Sorted(maps.Keys(s.Classification)) {
				for _, col := range sortedKeys(s.Classification[table]) {
					if s.Classification[table][col] == contract.Personal && !changed[table][col] && !changed[table]["*"] {
						c.fs = append(c.fs, Finding{Pos: j.Pos, Sync: s.Name, Environment: j.Environment, Warning: true,
							Msg: fmt.Sprintf("%s.%s is classified personal, but no statement of %s appears to change it (the gate refuses the restore if it is unchanged)", table, col, path)})
					}
				}
			}
		}
	}
}
