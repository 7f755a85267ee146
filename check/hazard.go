package check

import (
	"fmt"
	"time"

	"github.com/envsync/envsync/timing"
)

func (c *checker) hazards() {
	for i := range c.e.Syncs {
		s := &c.e.Syncs[i]
		for k := range s.Jobs {
			j := &s.Jobs[k]
			rd, hazard := c.flow.Hazard(s, j)
			switch {
			case hazard:
				u := rd.Upstream
				c.fs = append(c.fs, Finding{
					Pos: j.Pos, Sync: s.Name, Environment: j.Environment, Hazard: true,
					Acknowledged: j.AcknowledgedHazard,
					Msg: fmt.Sprintf("ordering hazard: restore at %s may start before the %s backup it needs has finished (that job starts %s and may run until %s: %s), so it would restore an older dump; starting the restore at %s or later, or that job earlier, removes it",
						timing.When(rd.Restore), u.Job.Environment, timing.When(u.Start), timing.When(u.Finish), u.How, clock(u.Finish)),
				})
			case j.AcknowledgedHazard != "":
				// A stale acknowledgement would silence a future hazard.
				c.add(j.Pos, s.Name, j.Environment, "acknowledgeHazard is set but the job has no ordering hazard: remove it")
			}
			if d, ok := c.flow.DayOld(s, j); ok {
				m := d.Missed
				c.fs = append(c.fs, Finding{
					Pos: j.Pos, Sync: s.Name, Environment: j.Environment, Note: true,
					Msg: fmt.Sprintf("the restore at %s always reads the %s dump of the day before (%s old when it starts): that backup runs %s after the restore (starts %s, done by %s at worst); starting the restore at %s or later, or that backup earlier, would land data a day fresher",
						clock(d.Restore), m.Job.Environment, timing.Short(d.Restore.Sub(d.Read.Start)), timing.Short(m.Start.Sub(d.Restore)),
						clock(m.Start), clock(m.Finish), clock(m.Finish)),
				})
			}
		}
	}
}

func clock(t time.Time) string { return t.Format("15:04") }
