package chartimport

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/timing"
)

// Options are what the values file does not say.
type Options struct {
	Namespace     string // of every environment's jobs
	JobNamePrefix string // the chart's CronJob names: "db-backup-"
	Image         string // envsync's runner image
	Pushgateway   string
	// Buckets name environments' buckets the import cannot infer, or
	// override what it infers (environment -> s3://...).
	Buckets map[string]string
	// ScriptsDir holds the transforms' scripts (default: beside the
	// values file).
	ScriptsDir string
}

// Result is what an import writes and what it could not express.
type Result struct {
	Files  []File // syncs/estate.cue, syncs/<app>.cue, syncs/sanitise/<script>
	Report []string
	// Dropped are the jobs of the values file that no declaration makes,
	// each with its line and why.
	Dropped []string
}

// File is one file to write, its path relative to the repository root.
type File struct {
	Path string
	Data []byte
}

// The tier of a job without maxJobRuntimeSeconds: the schema's default
// tier, with envsync's default deadline.
const (
	defaultTier     = "quicker"
	defaultDeadline = 12 * time.Hour
)

// importer holds the state of one import.
type importer struct {
	v       *Values
	o       Options
	report  []string
	dropped []string
	buckets map[string]string // environment -> bucket
	envs    []*envPlan
	classes map[string]*classPlan
	tiers   map[time.Duration]string
	syncs   []*syncPlan
	scripts map[string]scriptFile // file name -> content and where it was named
}

type scriptFile struct {
	data  []byte
	where Where
}

type envPlan struct {
	name, bucket, restoreFrom, class string
	sanitise, suspend                bool
}

type classPlan struct {
	name   string
	days   []time.Weekday
	armed  []time.Weekday // nil: every day
	window time.Duration
}

// jobPlan is one chart job as envsync expresses it.
type jobPlan struct {
	job         Job
	env         string
	engine      string
	databases   []string
	ops         []model.Operation
	restoreFrom string            // the upstream environment, when the job restores
	sanitise    map[string]string // database -> script file name
	class       string
	at          string // "HH:MM", or schedule
	schedule    string
	deadline    time.Duration
	owner       string
	extraEnv    map[string]string // extraEnv besides DB_OWNER
}

type syncPlan struct {
	name, app, engine, host, owner, tier string
	deadline                             time.Duration // the tier's: the longest of its jobs
	databases                            []string
	resources                            *Resources
	env                                  map[string]string
	jobs                                 []*jobPlan // in environment order
}

func (im *importer) reportf(format string, args ...any) {
	im.report = append(im.report, fmt.Sprintf(format, args...))
}

func (im *importer) at(w Where) string { return fmt.Sprintf("%s:%d: %s", im.v.File, w.Line, w.Path) }

// Import plans the declarations of v.
func Import(v *Values, o Options) (*Result, error) {
	im := &importer{v: v, o: o, classes: map[string]*classPlan{}, tiers: map[time.Duration]string{}, scripts: map[string]scriptFile{}}
	if im.o.ScriptsDir == "" {
		im.o.ScriptsDir = filepath.Dir(v.File)
	}
	im.reportTopLevel()
	if err := im.inferBuckets(); err != nil {
		return nil, err
	}
	im.inferFlow()
	var plans []*jobPlan
	for _, env := range v.Environments {
		for _, j := range env.Jobs {
			p, err := im.planJob(env.Name, j)
			if err != nil {
				return nil, err
			}
			if p != nil {
				plans = append(plans, p)
			}
		}
	}
	im.groupSyncs(plans)
	if len(im.tiers) == 0 {
		im.tier(defaultDeadline) // for undeclared series, when no job was imported
	}
	im.inferEnvironments(plans)
	return im.render()
}

func (im *importer) reportTopLevel() {
	v := im.v
	for _, w := range v.Ignored {
		if !strings.HasPrefix(w.Path, "x-") {
			im.reportf("%s: not a value the chart reads; ignored", im.at(w))
		}
	}
	if len(v.Image) > 0 {
		image := fmt.Sprint(v.Image["repository"])
		if tag, ok := v.Image["tag"]; ok {
			image += ":" + fmt.Sprint(tag)
		}
		im.reportf("%s: image %s: the old scripts' image; every job runs envsync's runner image %s (image in syncs/estate.cue)", v.File, image, im.o.Image)
	}
	if len(v.PodSecurityContext) > 0 || len(v.SecurityContext) > 0 {
		pod, _ := json.Marshal(v.PodSecurityContext)
		container, _ := json.Marshal(v.SecurityContext)
		im.reportf("%s: podSecurityContext %s and securityContext %s: not carried over; envsync's jobs run as user and group %d, non-root, with a read-only root, no privilege escalation, no capabilities and the runtime's seccomp profile",
			v.File, pod, container, 10001)
	}
	if sa := v.ServiceAccount; sa != nil && len(v.Environments) > 1 {
		im.reportf("%s: serviceAccount: one account for every environment, as the values file says; give each environment its own role (annotations) in syncs/estate.cue if they differ", v.File)
	}
}

var wordRE = regexp.MustCompile(`[a-z0-9]+`)

// inferBuckets finds each environment's bucket: the --bucket ones, those
// restores read (a bucket belongs to the environment its name names), and
// for the others the pattern the known ones share.
func (im *importer) inferBuckets() error {
	im.buckets = map[string]string{}
	for env, b := range im.o.Buckets {
		if !slices.ContainsFunc(im.v.Environments, func(e Environment) bool { return e.Name == env }) {
			return fmt.Errorf("--bucket %s=%s: no environment %q in %s", env, b, env, im.v.File)
		}
		im.buckets[env] = b
	}
	owner := func(bucket string) []string {
		for env, b := range im.buckets {
			if b == bucket {
				return []string{env}
			}
		}
		var named []string
		words := wordRE.FindAllString(strings.ToLower(bucket), -1)
		for _, e := range im.v.Environments {
			if slices.Contains(words, e.Name) {
				named = append(named, e.Name)
			}
		}
		return named
	}
	for _, env := range im.v.Environments {
		for _, j := range env.Jobs {
			for _, op := range j.Operations {
				if op.Op != "restore" {
					continue
				}
				envs := owner(op.Bucket)
				if len(envs) != 1 {
					return fmt.Errorf("%s: bucket %s names %d environments (%s): say whose it is with --bucket ENVIRONMENT=%s",
						im.at(op.Where), op.Bucket, len(envs), strings.Join(envs, ", "), op.Bucket)
				}
				if b, ok := im.buckets[envs[0]]; ok && b != op.Bucket {
					return fmt.Errorf("%s: bucket %s, but %s's is %s: say whose each is with --bucket", im.at(op.Where), op.Bucket, envs[0], b)
				}
				im.buckets[envs[0]] = op.Bucket
			}
		}
	}
	// The others: the pattern of the known ones, the environment's name
	// in place of theirs.
	patterns := map[string]bool{}
	for env, b := range im.buckets {
		if strings.Count(b, env) == 1 {
			patterns[strings.Replace(b, env, "{env}", 1)] = true
		}
	}
	for _, env := range im.v.Environments {
		if _, ok := im.buckets[env.Name]; ok {
			continue
		}
		if len(patterns) != 1 {
			return fmt.Errorf("%s: no restore reads environment %s's bucket and the others share no pattern: give it with --bucket %s=s3://...", im.v.File, env.Name, env.Name)
		}
		for p := range patterns {
			im.buckets[env.Name] = strings.Replace(p, "{env}", env.Name, 1)
		}
		im.reportf("%s: environment %s: no restore reads its bucket; %s, after the pattern of the others (--bucket %s=... to say otherwise)",
			im.v.File, env.Name, im.buckets[env.Name], env.Name)
	}
	return nil
}

// envOfBucket is the environment whose bucket b is.
func (im *importer) envOfBucket(b string) string {
	for _, e := range im.v.Environments {
		if im.buckets[e.Name] == b {
			return e.Name
		}
	}
	return ""
}

// inferFlow sets each environment's restoreFrom: where most of its
// restores read.
func (im *importer) inferFlow() {
	for _, env := range im.v.Environments {
		p := &envPlan{name: env.Name, bucket: im.buckets[env.Name]}
		count := map[string]int{}
		for _, j := range env.Jobs {
			if i := slices.IndexFunc(j.Operations, func(o Operation) bool { return o.Op == "restore" }); i >= 0 {
				count[im.envOfBucket(j.Operations[i].Bucket)]++
			}
		}
		p.restoreFrom = mostCommon(count, im.envOrder)
		im.envs = append(im.envs, p)
	}
}

// envOrder breaks ties between environments by their order in the file.
func (im *importer) envOrder(a, b string) int {
	index := func(n string) int {
		return slices.IndexFunc(im.v.Environments, func(e Environment) bool { return e.Name == n })
	}
	return cmp.Compare(index(a), index(b))
}

// mostCommon is the key with the highest count, ties broken by order.
func mostCommon(count map[string]int, order func(a, b string) int) string {
	best := ""
	for k, n := range count {
		if best == "" || n > count[best] || n == count[best] && order(k, best) < 0 {
			best = k
		}
	}
	return best
}

// planJob expresses one chart job, or reports why it cannot and returns
// nil.
func (im *importer) planJob(env string, j Job) (*jobPlan, error) {
	skip := func(format string, args ...any) (*jobPlan, error) {
		im.dropped = append(im.dropped, fmt.Sprintf("%s: %s", im.at(j.Where), fmt.Sprintf(format, args...)))
		return nil, nil
	}
	for _, u := range j.Unknown {
		im.reportf("%s: not a value the chart reads; ignored", im.at(u))
	}
	// The job's key becomes an app's file name and a sync's: it must be a
	// name before it is anything else ("../../x-postgres" is a path).
	if msgs := validation.IsDNS1123Label(j.Name); len(msgs) > 0 {
		return nil, fmt.Errorf("%s: job %q is not a name envsync can use (a Kubernetes name: lower-case letters, digits and '-'): %s", im.at(j.Where), j.Name, strings.Join(msgs, "; "))
	}
	p := &jobPlan{job: j, env: env, sanitise: map[string]string{}, extraEnv: map[string]string{}}

	// Engine: the dbms field, else the job name's last word.
	dbms := j.DBMS
	if dbms == "" {
		dbms = j.Name[strings.LastIndex(j.Name, "-")+1:]
	}
	engine, ok := engineOf(dbms)
	if !ok {
		return skip("DBMS %q (the job name's last word, or dbms) is not postgres, mysql or documentdb", dbms)
	}
	p.engine = engine

	// Operations, database by database; a transform right after a restore
	// of the same database is the restore's sanitise script.
	perDB := map[string][]model.Operation{}
	var sequence []string // "db op", as the chart runs them
	for _, op := range j.Operations {
		if !slices.Contains(p.databases, op.DB) {
			p.databases = append(p.databases, op.DB)
		}
		ops := perDB[op.DB]
		switch op.Op {
		case "restore":
			from := im.envOfBucket(op.Bucket)
			if p.restoreFrom != "" && from != p.restoreFrom {
				return skip("restores from two environments (%s and %s)", p.restoreFrom, from)
			}
			p.restoreFrom = from
		case "transform":
			if err := im.script(op); err != nil {
				return nil, err
			}
			if len(ops) > 0 && ops[len(ops)-1] == model.Restore && p.sanitise[op.DB] == "" {
				p.sanitise[op.DB] = op.Script
				continue
			}
			if p.sanitise[op.DB] != "" {
				return skip("database %s has two transforms", op.DB)
			}
			p.sanitise[op.DB] = op.Script
		}
		perDB[op.DB] = append(ops, model.Operation(op.Op))
		sequence = append(sequence, op.DB+" "+op.Op)
	}
	// envsync runs the operations of every database in the same order,
	// restore, transform, backup; a transform only where there is a script.
	var want []model.Operation
	transforms := false
	for _, db := range p.databases {
		ops := perDB[db]
		if !model.InOrder(ops) {
			return skip("database %s's operations %v are not in the order restore, transform, backup that envsync runs", db, ops)
		}
		without := slices.DeleteFunc(slices.Clone(ops), func(o model.Operation) bool { return o == model.Transform })
		if want == nil {
			want = without
		} else if !slices.Equal(want, without) {
			return skip("its databases have different operations (%v, %v); envsync runs the same ones on each", want, without)
		}
		transforms = transforms || len(without) < len(ops)
	}
	p.ops = slices.Clone(want)
	if transforms {
		p.ops = sortedOps(append(p.ops, model.Transform))
	}
	if len(p.databases) > 1 {
		var envsync []string
		for _, db := range p.databases {
			for _, op := range perDB[db] {
				envsync = append(envsync, db+" "+string(op))
			}
		}
		if !slices.Equal(sequence, envsync) {
			im.reportf("%s: envsync runs the databases one after another (each one's %v), where the chart ran each operation across them", im.at(j.Where), want)
		}
	}

	// When: a time of day on the cron days, else the cron line itself.
	fields := strings.Fields(j.Schedule)
	sched, err := timing.Parse(j.Schedule)
	if err != nil || len(fields) != 5 {
		return skip("schedule %q is not a five-field cron line: %v", j.Schedule, err)
	}
	if fields[2] != "*" || fields[3] != "*" {
		return skip("schedule %q picks days of the month or months; envsync's schedule classes are days of the week", j.Schedule)
	}
	days := timing.RunDays(sched)
	p.class = im.class(days)
	h, errH := strconv.Atoi(fields[1])
	m, errM := strconv.Atoi(fields[0])
	if errH == nil && errM == nil && declare.CronDays(days) == fields[4] {
		p.at = fmt.Sprintf("%02d:%02d", h, m)
	} else {
		p.schedule = j.Schedule
	}

	// How long: the chart's deadline, else envsync's default.
	p.deadline = defaultDeadline
	if j.MaxJobRuntimeSeconds > 0 {
		p.deadline = time.Duration(j.MaxJobRuntimeSeconds) * time.Second
	}
	for _, e := range j.ExtraEnv {
		switch {
		case e.Name == "DB_OWNER":
			p.owner = e.Value
		case contract.Reserved(e.Name): // DB_OWNER became the sync's owner above
			im.reportf("%s: extraEnv %s: envsync sets it itself; dropped", im.at(j.Where), e.Name)
		default:
			p.extraEnv[e.Name] = e.Value
		}
	}
	return p, nil
}

// script reads the transform's script once.
func (im *importer) script(op Operation) error {
	if _, ok := im.scripts[op.Script]; ok {
		return nil
	}
	if filepath.Base(op.Script) != op.Script || !filepath.IsLocal(op.Script) || strings.ContainsRune(op.Script, '\\') {
		return fmt.Errorf("%s.script: %q: a file name is expected", im.at(op.Where), op.Script)
	}
	data, err := os.ReadFile(filepath.Join(im.o.ScriptsDir, op.Script))
	if err != nil {
		return fmt.Errorf("%s.script: %w (give the directory of the chart's scripts with --scripts)", im.at(op.Where), err)
	}
	im.scripts[op.Script] = scriptFile{data, op.Where}
	return nil
}

func sortedOps(ops []model.Operation) []model.Operation {
	out := slices.Clone(ops)
	slices.SortFunc(out, func(a, b model.Operation) int {
		return cmp.Compare(slices.Index(model.Operations, a), slices.Index(model.Operations, b))
	})
	return out
}

func dayName(d time.Weekday) string { return strings.ToLower(d.String()) }

// class names the schedule class of days, declaring it the first time:
// "daily", "weekdays", "weekly-monday", "sunday-to-thursday",
// "monday-wednesday-friday". "Not completed" waits 25 hours, armed on the
// days that follow a run day and have a run, as the example estate's
// night classes do; a weekly class waits a week and a half day, armed
// every day; a class with no two days in a row waits its longest gap and
// half a day.
func (im *importer) class(days []time.Weekday) string {
	var name string
	switch {
	case len(days) == 7:
		name = "daily"
	case slices.Equal(days, []time.Weekday{1, 2, 3, 4, 5}):
		name = "weekdays"
	case len(days) == 1:
		name = "weekly-" + dayName(days[0])
	case len(days) >= 3 && int(days[len(days)-1]-days[0]) == len(days)-1:
		name = dayName(days[0]) + "-to-" + dayName(days[len(days)-1])
	default:
		parts := make([]string, len(days))
		for i, d := range days {
			parts[i] = dayName(d)
		}
		name = strings.Join(parts, "-")
	}
	if _, ok := im.classes[name]; ok {
		return name
	}
	c := &classPlan{name: name, days: days, window: 25 * time.Hour}
	switch {
	case len(days) == 7:
	case len(days) == 1:
		c.window = 7*24*time.Hour + 12*time.Hour
	default:
		for _, d := range days {
			if slices.Contains(days, (d+6)%7) {
				c.armed = append(c.armed, d)
			}
		}
		if len(c.armed) == 0 {
			gap := 0
			for i, d := range days {
				next := days[(i+1)%len(days)]
				gap = max(gap, (int(next)-int(d)+7)%7)
			}
			c.window = time.Duration(gap)*24*time.Hour + 12*time.Hour
		}
	}
	im.classes[name] = c
	return name
}

// groupSyncs makes one sync of the jobs of the same name, and reports
// where its environments disagree on what envsync keeps per sync.
func (im *importer) groupSyncs(plans []*jobPlan) {
	byName := map[string]*syncPlan{}
	for _, p := range plans {
		s := byName[p.job.Name]
		if s == nil {
			s = &syncPlan{name: p.job.Name, engine: p.engine, host: p.job.Host, owner: p.owner,
				databases: p.databases, resources: p.job.Resources, env: p.extraEnv}
			s.app = s.name
			if dbms := p.job.Name[strings.LastIndex(p.job.Name, "-")+1:]; p.job.DBMS == "" && dbms != s.name {
				s.app = strings.TrimSuffix(s.name, "-"+dbms)
			}
			byName[p.job.Name] = s
			im.syncs = append(im.syncs, s)
		}
		differs := func(what string, first, here any) bool {
			if fmt.Sprint(first) == fmt.Sprint(here) {
				return false
			}
			im.reportf("%s: %s %s differs from the first environment's %s; envsync keeps one per sync", im.at(p.job.Where), what, shown(here), shown(first))
			return true
		}
		if len(s.jobs) > 0 {
			if differs("engine", s.engine, p.engine) || differs("databases", s.databases, p.databases) {
				im.dropped = append(im.dropped, fmt.Sprintf("%s: its engine or databases differ from the same app's job in another environment", im.at(p.job.Where)))
				continue
			}
			differs("host", s.host, p.job.Host)
			differs("owner (DB_OWNER)", s.owner, p.owner)
			differs("extraEnv", s.env, p.extraEnv)
			differs("resources", resourcesString(s.resources), resourcesString(p.job.Resources))
		}
		s.jobs = append(s.jobs, p)
	}
	slices.SortFunc(im.syncs, func(a, b *syncPlan) int { return strings.Compare(a.name, b.name) })

	// Deadlines: the sync's tier is its longest; a job with a shorter one
	// keeps it as its own maxRunTime.
	for _, s := range im.syncs {
		for _, p := range s.jobs {
			s.deadline = max(s.deadline, p.deadline)
		}
		s.tier = im.tier(s.deadline)
		if s.owner != "" && len(s.databases) == 1 && s.owner == contract.DefaultOwner(s.databases[0]) {
			s.owner = ""
		}
		if s.resources != nil && im.v.Resources != nil && resourcesString(s.resources) == resourcesString(im.v.Resources) {
			s.resources = nil
		}
	}
}

func resourcesString(r *Resources) string {
	if r == nil {
		return "none"
	}
	return fmt.Sprintf("requests %s/%s limits %s/%s", r.Requests.CPU, r.Requests.Memory, r.Limits.CPU, r.Limits.Memory)
}

// tier names the tier of a deadline.
func (im *importer) tier(deadline time.Duration) string {
	if name, ok := im.tiers[deadline]; ok {
		return name
	}
	name := "runtime-" + goDuration(deadline)
	if deadline == defaultDeadline {
		name = defaultTier
	}
	im.tiers[deadline] = name
	return name
}

// inferEnvironments sets each environment's default class, whether it
// sanitises (every restore into it sanitises every database) and whether
// it is paused.
func (im *importer) inferEnvironments(plans []*jobPlan) {
	for _, e := range im.envs {
		count := map[string]int{}
		e.sanitise = false
		restores, sanitising := 0, 0
		unsanitised := ""
		for _, p := range plans {
			if p.env != e.name {
				continue
			}
			count[p.class]++
			// A restore of the environment's own backup (a roll-back)
			// brings nothing new in: it says nothing of sanitising.
			if slices.Contains(p.ops, model.Restore) && p.restoreFrom != e.name {
				restores++
				if len(p.sanitise) > 0 {
					sanitising++
				}
				for _, db := range p.databases {
					if p.sanitise[db] == "" && unsanitised == "" {
						unsanitised = fmt.Sprintf("%s restores %s", p.job.Name, db)
					}
				}
			}
		}
		e.class = mostCommon(count, strings.Compare)
		e.suspend = im.v.SuspendAllCronJobs
		switch {
		case restores > 0 && unsanitised == "":
			e.sanitise = true
		case 2*sanitising > restores:
			im.reportf("%s: environment %s: not declared sanitise: true, since %s without a script; declare it once every restore there sanitises (or the sync's personalData: false, after review)", im.v.File, e.name, unsanitised)
		}
	}
	if len(im.tiers) > 0 {
		im.reportf("%s: tiers: jobs without maxJobRuntimeSeconds had no deadline; envsync gives them %s (tier %s, \"taking a long time\" after an hour); the other tiers' deadline is their maxJobRuntimeSeconds and their threshold three quarters of it: adjust them in syncs/estate.cue",
			im.v.File, goDuration(defaultDeadline), defaultTier)
	}
}

// shown writes a value of a report: quoted when a string, so that an
// empty one is seen ("" rather than nothing).
func shown(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}
