package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/envsync/envsync/model"
)

// weekStart is a Monday at midnight UTC: hazards are looked for over one
// week of both schedules from here, with a week of history before it.
var weekStart = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// WorstCase is how long job j of sync s may run until its backup has
// finished, counting every operation up to and including the backup at its
// "taking a long time" threshold: the tier's for restore and backup, the
// environment's transform limit for a transform, or for a restore that
// sanitises (it reports a transform too). The second result says how.
func WorstCase(e *model.Estate, s *model.Sync, j *model.Job) (time.Duration, string) {
	env, _ := e.Environment(j.Environment)
	var total time.Duration
	var parts []string
	step := func(name string, d time.Duration) {
		total += d
		parts = append(parts, fmt.Sprintf("%s %s", name, short(d)))
	}
	for _, op := range j.Operations {
		switch op {
		case model.Restore, model.Backup:
			t, _ := e.Tier(s.Tier[op])
			step(string(op), t.LongRunning[op])
			if op == model.Restore && len(j.Sanitise) > 0 && !j.Has(model.Transform) {
				step("sanitise", env.TransformLimit)
			}
		case model.Transform:
			step("transform", env.TransformLimit)
		}
		if op == model.Backup {
			break
		}
	}
	return total, strings.Join(parts, " + ")
}

func (c *checker) hazards() {
	for i := range c.e.Syncs {
		s := &c.e.Syncs[i]
		for k := range s.Jobs {
			j := &s.Jobs[k]
			f, ok := Finding{}, false
			if j.Runs() && j.Has(model.Restore) && j.RestoreFrom != "" {
				f, ok = c.hazard(s, j)
			}
			switch {
			case ok:
				c.fs = append(c.fs, f)
			case j.AcknowledgedHazard != "":
				// A stale acknowledgement would silence a future hazard.
				c.add(j.Pos, s.Name, j.Environment, "acknowledgeHazard is set but the job has no ordering hazard: remove it")
			}
		}
	}
}

// run is one start of an upstream job and when its backup may finish.
type run struct {
	start, finish time.Time
	env, how      string
}

// hazard looks, for every start of j's restore in a week, for the latest
// upstream backup job start at or before it, and reports the first restore
// that may start before that backup has finished.
func (c *checker) hazard(s *model.Sync, j *model.Job) (Finding, bool) {
	sched, err := ParseSchedule(j.Schedule)
	if err != nil {
		return Finding{}, false
	}
	var runs []run
	seen := map[*model.Job]bool{}
	for _, db := range s.Databases {
		for _, u := range c.upstream(s, j, db) {
			if seen[u.job] || !u.job.Runs() {
				continue
			}
			seen[u.job] = true
			us, err := ParseSchedule(u.job.Schedule)
			if err != nil {
				continue
			}
			d, how := WorstCase(c.e, u.sync, u.job)
			for _, t := range starts(us, weekStart.AddDate(0, 0, -8), weekStart.AddDate(0, 0, 7)) {
				runs = append(runs, run{t, t.Add(d), u.job.Environment, how})
			}
		}
	}
	for _, r := range starts(sched, weekStart, weekStart.AddDate(0, 0, 7)) {
		var latest *run
		for i := range runs {
			if !runs[i].start.After(r) && (latest == nil || runs[i].start.After(latest.start)) {
				latest = &runs[i]
			}
		}
		if latest == nil || !latest.finish.After(r) {
			continue
		}
		return Finding{
			Pos: j.Pos, Sync: s.Name, Environment: j.Environment, Hazard: true,
			Acknowledged: j.AcknowledgedHazard,
			Msg: fmt.Sprintf("ordering hazard: restore at %s may start before the %s backup it needs has finished (that job starts %s and may run until %s: %s), so it would restore an older dump",
				when(r), latest.env, when(latest.start), when(latest.finish), latest.how),
		}, true
	}
	return Finding{}, false
}

// starts lists the times sched fires in [from, to), including from itself.
func starts(sched cron.Schedule, from, to time.Time) []time.Time {
	var out []time.Time
	for t := sched.Next(from.Add(-time.Second)); t.Before(to); t = sched.Next(t) {
		out = append(out, t)
	}
	return out
}

func when(t time.Time) string { return t.Format("Mon 15:04") }

// short prints a duration without zero units: 1h, 45m, 1h30m.
func short(d time.Duration) string {
	var b strings.Builder
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}
