package gen

import (
	"strings"
	"testing"
)

func TestEmptyOutputIsRefusedAsAMistake(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		declared, cronJobs, rules int
		want                      string
	}{
		{"jobs declared but no CronJob generated", 3, 0, 5, "3 job(s) declared but no CronJob generated"},
		{"an empty rule set", 3, 3, 0, "empty rule set"},
		{"an environment without jobs but with rules", 0, 0, 2, ""},
		{"jobs and rules", 3, 3, 9, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := notEmpty(tc.declared, tc.cronJobs, tc.rules)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
