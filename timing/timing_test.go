package timing_test

import (
	"testing"
	"time"

	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/model/modeltest"
	"github.com/envsync/envsync/timing"
)

// job finds the job of sync in env.
func job(t *testing.T, e *model.Estate, sync, env string) (*model.Sync, *model.Job) {
	t.Helper()
	for i := range e.Syncs {
		if e.Syncs[i].Name != sync {
			continue
		}
		for k := range e.Syncs[i].Jobs {
			if e.Syncs[i].Jobs[k].Environment == env {
				return &e.Syncs[i], &e.Syncs[i].Jobs[k]
			}
		}
	}
	t.Fatalf("no job of %s in %s", sync, env)
	return nil, nil
}

func TestTheAgeOfTheDataARestoreLandsFollowsTheFlowToProduction(t *testing.T) {
	e := modeltest.Estate()
	flow := timing.NewFlow(e)
	// chat-postgres: production backs up daily at 23:47 (1h at worst);
	// staging restores at 01:47 on weekdays (restore 1h, backup 1h);
	// integration restores from staging at 03:47 on Mondays and sanitises
	// (restore 1h, sanitise 30m).
	for _, c := range []struct {
		env         string
		best, worst time.Duration
	}{
		// 23:47 to 01:47; to 02:47 when the restore takes its hour.
		{"staging", 2 * time.Hour, 3 * time.Hour},
		// Sunday 23:47 to Monday 03:47; to 05:17 after restore and sanitise.
		{"integration", 4 * time.Hour, 5*time.Hour + 30*time.Minute},
	} {
		s, j := job(t, e, "chat-postgres", c.env)
		age, ok := flow.Age(s, j)
		if !ok || age.Best != c.best || age.Worst != c.worst || age.From != "production" {
			t.Errorf("%s: age %+v %v, want %s to %s from production", c.env, age, ok, c.best, c.worst)
		}
	}
	s, j := job(t, e, "chat-postgres", "production")
	if _, ok := flow.Age(s, j); ok {
		t.Error("a backup-only job has an age")
	}
}

func TestTheWorstCaseAgeCountsARestoreThatStartsBeforeItsUpstreamHasFinished(t *testing.T) {
	e := modeltest.Estate()
	s, j := job(t, e, "chat-postgres", "integration")
	j.Schedule = "17 2 * * 1" // staging's 01:47 run may go on to 03:47
	flow := timing.NewFlow(e)
	if _, ok := flow.Hazard(s, j); !ok {
		t.Fatal("no hazard")
	}
	age, _ := flow.Age(s, j)
	// At best it reads Monday's staging run (data from Sunday 23:47): 2h30m.
	// At worst the previous Friday's, whose data is from Thursday 23:47:
	// to Monday 02:17 + 1h30m, 3 days 4 hours.
	if age.Best != 2*time.Hour+30*time.Minute || age.Worst != 3*24*time.Hour+4*time.Hour {
		t.Errorf("age %+v", age)
	}
}

func TestARestoreThatRunsJustBeforeItsUpstreamReadsTheDayBefore(t *testing.T) {
	e := modeltest.Estate()
	flow := timing.NewFlow(e)
	s, j := job(t, e, "chat-postgres", "staging")
	if _, ok := flow.DayOld(s, j); ok {
		t.Error("a restore two hours after its upstream backup is said to read the day before")
	}
	_, p := job(t, e, "chat-postgres", "production")
	p.Schedule = "0 3 * * *"
	flow = timing.NewFlow(e)
	d, ok := flow.DayOld(s, j)
	if !ok {
		t.Fatal("a restore at 01:47 before a backup at 03:00 is not said to read the day before")
	}
	if got := d.Missed.Start.Format("15:04"); got != "03:00" || d.Restore.Sub(d.Read.Start) != 22*time.Hour+47*time.Minute {
		t.Errorf("missed %s, read a run %s before", got, d.Restore.Sub(d.Read.Start))
	}
}

func TestShort(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", time.Hour: "1h", 90 * time.Minute: "1h30m", 27 * time.Hour: "1d3h", 45 * time.Second: "45s",
	} {
		if got := timing.Short(d); got != want {
			t.Errorf("Short(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestMaxGapIsTheLongestWaitBetweenTwoStarts(t *testing.T) {
	for spec, want := range map[string]time.Duration{
		"30 2 * * *":   24 * time.Hour,
		"30 2 * * 1-5": 72 * time.Hour, // Friday to Monday
		"30 2 * * 1":   7 * 24 * time.Hour,
		"0 */6 * * *":  6 * time.Hour,
	} {
		sched, err := timing.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := timing.MaxGap(sched); got != want {
			t.Errorf("%s: %s, want %s", spec, got, want)
		}
	}
}
