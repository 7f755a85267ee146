package check

import (
	"fmt"
	"time"

	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/timing"
)

// bucketExpiries warns where a bucket's declared lifecycle expiry may
// delete the dump a restore downstream reads: the pointer's dump is as old
// as the longest gap between the backups that store it, and S3 deletes by
// age whatever envsync keeps (the estate lengthened its expiry when
// integration went weekly).
func (c *checker) bucketExpiries() {
	for _, env := range c.e.Environments {
		if env.BucketExpiryDays == 0 {
			continue
		}
		expiry := time.Duration(env.BucketExpiryDays) * 24 * time.Hour
		for i := range c.e.Syncs {
			s := &c.e.Syncs[i]
			store := storing(s, env.Name)
			if store == nil {
				continue
			}
			sched, err := timing.Parse(store.Schedule)
			if err != nil {
				continue // reported where the schedule is checked
			}
			// The dump may be a whole gap old when the next one lands, and
			// the restore reading it runs within a day of that.
			need := timing.MaxGap(sched) + 24*time.Hour
			for k := range s.Jobs {
				j := &s.Jobs[k]
				if !j.Runs() || !j.Has(model.Restore) || j.RestoreFrom != env.Name || need <= expiry {
					continue
				}
				c.fs = append(c.fs, Finding{Pos: j.Pos, Sync: s.Name, Environment: j.Environment, Warning: true,
					Msg: fmt.Sprintf("restores from %s, whose bucket's lifecycle deletes objects after %d days (bucketExpiryDays), but %s's backups of %s run up to %s apart: the dump this restore reads may be gone; set bucketExpiryDays to at least %d",
						env.Name, env.BucketExpiryDays, env.Name, s.Name, timing.Short(timing.MaxGap(sched)), int(need.Hours()/24))})
			}
		}
	}
}

// storing is the job of s in env that stores its dumps (backup or
// publish), if any runs.
func storing(s *model.Sync, env string) *model.Job {
	for k := range s.Jobs {
		if j := &s.Jobs[k]; j.Environment == env && j.Runs() && j.Stores() {
			return j
		}
	}
	return nil
}
