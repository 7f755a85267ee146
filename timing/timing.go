// Package timing is the estate's schedule arithmetic, in one place: when
// each job starts over a week, how long each of its operations may take
// (the tiers' "taking a long time" thresholds), which upstream run a
// restore reads, whether it may start before that run has finished (an
// ordering hazard) and how old the data is when it lands. Package check
// reports from it, the schedule picture draws it and `envsync vet --ages`
// lists it.
package timing

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/envsync/envsync/model"
)

// WeekStart is a Monday at midnight UTC: schedules are looked at over one
// week from here, with two weeks of history before it for the upstream runs
// a restore may read.
var WeekStart = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// Week is the span looked at.
const Week = 7 * 24 * time.Hour

// history is how far before a restore its upstream runs are looked for: a
// weekly upstream read by a weekly restore needs more than a week.
const history = 15 * 24 * time.Hour

// cronParser accepts standard five-field cron lines, as Kubernetes does.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Parse parses a five-field cron line.
func Parse(s string) (cron.Schedule, error) { return cronParser.Parse(s) }

// Starts lists the times sched fires in [from, to), including from itself.
func Starts(sched cron.Schedule, from, to time.Time) []time.Time {
	var out []time.Time
	for t := sched.Next(from.Add(-time.Second)); t.Before(to); t = sched.Next(t) {
		out = append(out, t)
	}
	return out
}

// MaxGap is the longest time between two consecutive starts of sched, over
// a week and its wrap into the next: how old the dump a backup on sched
// stored may be, at worst, when something reads it.
func MaxGap(sched cron.Schedule) time.Duration {
	starts := Starts(sched, WeekStart, WeekStart.Add(2*Week))
	var gap time.Duration
	for i := 1; i < len(starts); i++ {
		gap = max(gap, starts[i].Sub(starts[i-1]))
	}
	return gap
}

// RunDays lists, in order, the days of the week sched fires on.
func RunDays(sched cron.Schedule) []time.Weekday {
	var days []time.Weekday
	for _, t := range Starts(sched, WeekStart, WeekStart.Add(Week)) {
		if !slices.Contains(days, t.Weekday()) {
			days = append(days, t.Weekday())
		}
	}
	slices.Sort(days)
	return days
}

// Step is one operation of a job at its worst case. Name is the
// operation's, or "sanitise" for the script a restore runs on its shadow.
type Step struct {
	Name     string
	Duration time.Duration
}

// Steps lists what job j of sync s does, in order, each at its "taking a
// long time" threshold: the tier's for restore and backup, the
// environment's transform limit for a transform, or for a restore that
// sanitises (it reports a transform too).
func Steps(e *model.Estate, s *model.Sync, j *model.Job) []Step {
	env, _ := e.Environment(j.Environment)
	var steps []Step
	for _, op := range j.Operations {
		switch op {
		case model.Restore, model.Backup:
			t, _ := e.Tier(s.Tier[op])
			steps = append(steps, Step{string(op), t.LongRunning[op]})
			if op == model.Restore && len(j.Sanitise) > 0 && !j.Has(model.Transform) {
				steps = append(steps, Step{"sanitise", env.TransformLimit})
			}
		case model.Transform:
			steps = append(steps, Step{"transform", env.TransformLimit})
		case model.Publish:
			// Its tier's backup and restore (dump, load, dump again), and
			// the script on the scratch.
			t, _ := e.Tier(s.Tier[op])
			steps = append(steps, Step{string(op), t.LongRunning[op]}, Step{"sanitise", env.TransformLimit})
		}
	}
	return steps
}

// WorstCase is how long job j may run until its last operation has
// finished; the second result says how ("restore 1h + backup 1h").
func WorstCase(e *model.Estate, s *model.Sync, j *model.Job) (time.Duration, string) {
	var total time.Duration
	var parts []string
	for _, st := range Steps(e, s, j) {
		total += st.Duration
		parts = append(parts, st.Name+" "+Short(st.Duration))
	}
	return total, strings.Join(parts, " + ")
}

// landing is how long after its start job j's restored data is live, at
// worst: the restore and its sanitising, or a transform right after it.
func landing(e *model.Estate, s *model.Sync, j *model.Job) time.Duration {
	var d time.Duration
	for _, st := range Steps(e, s, j) {
		if st.Name == string(model.Backup) || st.Name == string(model.Publish) {
			break
		}
		d += st.Duration
	}
	return d
}

// JobRef names one job of one sync.
type JobRef struct {
	Sync *model.Sync
	Job  *model.Job
}

// Flow knows, per environment and instance, the jobs that back up (or
// publish): where each restore reads from.
type Flow struct {
	e       *model.Estate
	backups map[[2]string][]JobRef
}

// NewFlow indexes e's backups.
func NewFlow(e *model.Estate) *Flow {
	f := &Flow{e: e, backups: map[[2]string][]JobRef{}}
	for i := range e.Syncs {
		s := &e.Syncs[i]
		for k := range s.Jobs {
			j := &s.Jobs[k]
			if j.Ensure != model.Absent && j.Stores() {
				key := [2]string{j.Environment, s.Instance}
				f.backups[key] = append(f.backups[key], JobRef{s, j})
			}
		}
	}
	return f
}

// Upstream lists the jobs in j's upstream environment that back up db of
// s's instance, other than j itself.
func (f *Flow) Upstream(s *model.Sync, j *model.Job, db string) []JobRef {
	var out []JobRef
	for _, r := range f.backups[[2]string{j.RestoreFrom, s.Instance}] {
		if r.Job == j || !slices.Contains(r.Sync.Databases, db) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Run is one start of a job and when, at worst, it has finished.
type Run struct {
	JobRef
	Start, Finish time.Time
	How           string // the worst case's parts
}

// upstreamRuns lists every start, in [from, to), of the running jobs that
// back up what j restores.
func (f *Flow) upstreamRuns(s *model.Sync, j *model.Job, from, to time.Time) []Run {
	var runs []Run
	seen := map[*model.Job]bool{}
	for _, db := range s.Databases {
		for _, u := range f.Upstream(s, j, db) {
			if seen[u.Job] || !u.Job.Runs() {
				continue
			}
			seen[u.Job] = true
			sched, err := Parse(u.Job.Schedule)
			if err != nil {
				continue
			}
			d, how := WorstCase(f.e, u.Sync, u.Job)
			for _, t := range Starts(sched, from, to) {
				runs = append(runs, Run{u, t, t.Add(d), how})
			}
		}
	}
	return runs
}

// latest is the run that started last at or before t, among those that
// have finished by then when finished is set; nil when none.
func latest(runs []Run, t time.Time, finished bool) *Run {
	var out *Run
	for i := range runs {
		r := &runs[i]
		if r.Start.After(t) || (finished && r.Finish.After(t)) {
			continue
		}
		if out == nil || r.Start.After(out.Start) {
			out = r
		}
	}
	return out
}

// Read is one restore start of a week and the upstream run it reads.
type Read struct {
	Restore time.Time
	// Upstream is the run that started last before the restore: the one
	// it reads when every run is quick. Nil when there is none.
	Upstream *Run
	// Hazard: Upstream may not have finished when the restore starts, so
	// the restore may read an older dump.
	Hazard bool
}

// Reads lists, for every start of j's restore in the week, the upstream
// run it reads. Nil when j does not restore or cannot run.
func (f *Flow) Reads(s *model.Sync, j *model.Job) []Read {
	return f.reads(s, j, f.upstreamRuns(s, j, WeekStart.Add(-history), WeekStart.Add(Week)))
}

// reads is Reads among runs, the upstream runs up to the week's end.
func (f *Flow) reads(s *model.Sync, j *model.Job, runs []Run) []Read {
	if !j.Runs() || !j.Has(model.Restore) || j.RestoreFrom == "" {
		return nil
	}
	sched, err := Parse(j.Schedule)
	if err != nil {
		return nil
	}
	var out []Read
	for _, r := range Starts(sched, WeekStart, WeekStart.Add(Week)) {
		u := latest(runs, r, false)
		out = append(out, Read{Restore: r, Upstream: u, Hazard: u != nil && u.Finish.After(r)})
	}
	return out
}

// Hazard is the first restore of j in the week that may start before the
// upstream backup it needs has finished; false when there is none.
func (f *Flow) Hazard(s *model.Sync, j *model.Job) (Read, bool) {
	for _, r := range f.Reads(s, j) {
		if r.Hazard {
			return r, true
		}
	}
	return Read{}, false
}

// Age is how old the data of one restore is when it lands: from the start
// of the backup in the first environment it descends from (production's,
// which reads the live data) to the end of the restore and its sanitising.
// Best is the least over the week's restores when every run is quick (no
// time at all); Worst the most when every run takes its worst case and a
// restore reads only what has finished by its start.
type Age struct {
	Best, Worst time.Duration
	From        string // the first environment
}

// maxDepth bounds the walk up the flow (a cycle is an error of the
// estate, reported by check; this only keeps the walk finite).
const maxDepth = 8

// Age is the age of the data j's restores land; false when j does not
// restore or nothing upstream runs.
func (f *Flow) Age(s *model.Sync, j *model.Job) (Age, bool) {
	sched, err := Parse(j.Schedule)
	if err != nil || !j.Runs() || !j.Has(model.Restore) || j.RestoreFrom == "" {
		return Age{}, false
	}
	land := landing(f.e, s, j)
	age := Age{Best: -1}
	for _, r := range Starts(sched, WeekStart, WeekStart.Add(Week)) {
		best, from, ok := f.source(s, j, r, false, maxDepth)
		if !ok {
			return Age{}, false
		}
		worst, _, ok := f.source(s, j, r, true, maxDepth)
		if !ok {
			return Age{}, false
		}
		if a := r.Sub(best); age.Best < 0 || a < age.Best {
			age.Best = a
		}
		age.Worst = max(age.Worst, r.Add(land).Sub(worst))
		age.From = from
	}
	return age, age.Best >= 0
}

// source is when the data that j's restore starting at t reads was read
// from live, and in which environment: the backup start at the top of the
// flow. worst: every run takes its worst case and only finished ones are
// read.
func (f *Flow) source(s *model.Sync, j *model.Job, t time.Time, worst bool, depth int) (time.Time, string, bool) {
	if depth == 0 {
		return time.Time{}, "", false
	}
	u := latest(f.upstreamRuns(s, j, t.Add(-history), t.Add(time.Second)), t, worst)
	if u == nil {
		return time.Time{}, "", false
	}
	if u.Job.Has(model.Restore) && u.Job.RestoreFrom != "" {
		return f.source(u.Sync, u.Job, u.Start, worst, depth-1)
	}
	start := u.Start
	if worst {
		// Its backup, the last step, starts after what it runs first (a
		// transform).
		steps := Steps(f.e, u.Sync, u.Job)
		start = u.Finish.Add(-steps[len(steps)-1].Duration)
	}
	return start, u.Job.Environment, true
}

// DayOld is a restore that always reads the upstream dump of the day
// before, because the upstream backup runs a few hours after it: the
// restore is deterministic, but its data is a day older than it needs to
// be.
type DayOld struct {
	Restore time.Time // one of its starts
	Read    Run       // the run it reads
	Missed  Run       // the upstream run that starts soon after it
}

// halfDay separates "the run of the night before" from "a run of the same
// night".
const halfDay = 12 * time.Hour

// DayOld reports j's restore if every one of its starts in the week reads
// a run more than half a day old while the next upstream run starts less
// than half a day after it.
func (f *Flow) DayOld(s *model.Sync, j *model.Job) (DayOld, bool) {
	// The runs of the next half day too: a restore late on the last day
	// may miss one of them.
	runs := f.upstreamRuns(s, j, WeekStart.Add(-history), WeekStart.Add(Week+halfDay))
	reads := f.reads(s, j, runs)
	if len(reads) == 0 {
		return DayOld{}, false
	}
	var first DayOld
	for i, rd := range reads {
		if rd.Upstream == nil || rd.Restore.Sub(rd.Upstream.Start) <= halfDay {
			return DayOld{}, false
		}
		var next *Run
		for k := range runs {
			if runs[k].Start.After(rd.Restore) && (next == nil || runs[k].Start.Before(next.Start)) {
				next = &runs[k]
			}
		}
		if next == nil || next.Start.Sub(rd.Restore) >= halfDay {
			return DayOld{}, false
		}
		if i == 0 {
			first = DayOld{Restore: rd.Restore, Read: *rd.Upstream, Missed: *next}
		}
	}
	return first, true
}

// When prints a time of the week: "Mon 15:04".
func When(t time.Time) string { return t.Format("Mon 15:04") }

// Short prints a duration without zero units: 1h, 45m, 1h30m.
func Short(d time.Duration) string {
	var b strings.Builder
	if d < 0 {
		b.WriteString("-")
		d = -d
	}
	days, h, m := int(d.Hours())/24, int(d.Hours())%24, int(d.Minutes())%60
	sec := int(d.Seconds()) % 60
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 || b.Len() == 0 || b.String() == "-" {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}
