package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/names"
	"github.com/envsync/envsync/runner/catalog"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/storage"
)

func init() {
	var rootDir, bucketFlag string
	var verify, asJSON, prune, dryRun bool
	var keep, days int
	var pin, unpin, reason string
	cmd := &cobra.Command{
		Use:   "dumps ENVIRONMENT INSTANCE [DATABASE]",
		Short: "List the dumps of an instance in an environment's bucket, newest first, and which one a restore would read",
		Long: `List the dumps of INSTANCE (of DATABASE only, when given) in the bucket
that syncs/estate.cue declares for ENVIRONMENT (or --bucket), newest first:
when each was taken, its size, its checksum (none: no sidecar, as the old
scripts wrote; recorded; verified or MISMATCH with --verify, which
downloads each dump and shows the rows the backup counted in it, which a
restore holds the loaded copy to; --json lists them per table) and which
one the pointer names — the dump a restore
reads unless FILENAME says otherwise. S3 is configured as for envsync run
(AWS_REGION, AWS_ENDPOINT_URL_S3, keys or a web identity).`,
		Args:              namedArgs(2, "ENVIRONMENT", "INSTANCE", "DATABASE"),
		ValidArgsFunction: completeArgs("environment", "instance"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, instance, database := args[0], args[1], ""
			if len(args) == 3 {
				database = args[2]
			}
			bucket := bucketFlag
			readers := "restores reading this bucket"
			if bucket == "" {
				e, _, err := loadAndCheck(rootDir)
				if err != nil {
					return err
				}
				ev, ok := e.Environment(env)
				if !ok {
					return fmt.Errorf("no environment %q in %s/ (declared: %s)", env, declare.Package, e.EnvironmentNames())
				}
				bucket = ev.Bucket
				if err := declaredInstance(e, env, instance); err != nil {
					return err
				}
				readers = restoresReading(e, env)
			}
			st, err := storage.Open(cmd.Context(), bucket, storage.S3Options{})
			if err != nil {
				return err
			}
			switch {
			case pin != "":
				if reason == "" {
					return fmt.Errorf("--pin needs a --reason, kept beside the dump for whoever finds it")
				}
				if err := catalog.Pin(cmd.Context(), st, pin, reason); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "pinned %s: retention leaves it until --unpin\n", pin)
				return nil
			case unpin != "":
				if err := catalog.Unpin(cmd.Context(), st, unpin); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "unpinned %s\n", unpin)
				return nil
			}
			if prune {
				if database == "" {
					return fmt.Errorf("--prune needs the DATABASE whose dumps it removes")
				}
				if days > 0 && !cmd.Flags().Changed("keep") {
					keep = 0
				}
				policy := catalog.Retention{Keep: keep, Days: days, Now: time.Now()}
				gone, err := catalog.Prune(cmd.Context(), st, instance, database, policy, dryRun)
				if err != nil {
					return err
				}
				verb := "removed"
				if dryRun {
					verb = "would remove"
				}
				for _, k := range gone {
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", verb, k)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %d dump(s), keeping %s\n", verb, len(gone), policy)
				return nil
			}
			entries, err := catalog.List(cmd.Context(), st, instance, database, verify)
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return fmt.Errorf("no dump under %s/%s/", st, instance)
			}
			if asJSON {
				type dump struct {
					Taken    time.Time        `json:"taken"`
					Database string           `json:"database"`
					Size     int64            `json:"size"`
					Checksum string           `json:"checksum"`
					Key      string           `json:"key"`
					Latest   bool             `json:"latest"`
					Held     bool             `json:"held"`
					Pinned   bool             `json:"pinned"`
					Rows     map[string]int64 `json:"rows,omitempty"`
				}
				out := []dump{}
				for _, e := range entries {
					out = append(out, dump{e.Time, e.Database, e.Size, e.Checksum, e.Key, e.Latest, e.Held, e.Pinned, e.Rows})
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TAKEN (UTC)\tDATABASE\tSIZE\tCHECKSUM\tKEY\t")
			for _, e := range entries {
				if verify {
					e.Checksum += " " + rowsSummary(e.Rows)
				}
				mark := ""
				if e.Latest {
					mark = "<- latest: what " + readers + " read"
				}
				if e.Held {
					mark = "held: newer than the latest but not pointed to (a dump that shrank, or a backup cut short); accept it with ENVSYNC_ACCEPT_SHRUNK_DUMP=true"
				}
				if e.Pinned {
					mark = strings.TrimPrefix(mark+"; pinned: retention leaves it", "; ")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(layout.TimeFormat), e.Database, size(e.Size), e.Checksum, e.Key, mark)
			}
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&rootDir, "root", "", "repository root holding cue.mod (default: found upward from the current directory)")
	f.StringVar(&bucketFlag, "bucket", "", "s3://name or file:///path to list instead of the environment's declared bucket")
	f.BoolVar(&asJSON, "json", false, "print the dumps as JSON")
	f.BoolVar(&prune, "prune", false, "remove the DATABASE's dumps that --keep and --days do not keep (never the latest, a held or a pinned one)")
	f.IntVar(&keep, "keep", 7, "with --prune: how many of the newest dumps to keep (at least 2; 0 with --days)")
	f.IntVar(&days, "days", 0, "with --prune: also keep every dump younger than this many days")
	f.StringVar(&pin, "pin", "", "pin the dump at this key: retention leaves it (with --reason)")
	f.StringVar(&unpin, "unpin", "", "remove the pin of the dump at this key")
	f.StringVar(&reason, "reason", "", "with --pin: why, kept beside the dump")
	f.BoolVar(&dryRun, "dry-run", false, "with --prune: list what would be removed, remove nothing")
	f.BoolVar(&verify, "verify", false, "download every dump with a checksum sidecar and check its SHA-256")
	root.AddCommand(cmd)
}

// rowsSummary is what the backup counted of a dump: its tables and rows.
func rowsSummary(rows map[string]int64) string {
	if rows == nil {
		return "(no row counts)"
	}
	var n int64
	for _, r := range rows {
		n += r
	}
	return fmt.Sprintf("(%d tables, %d rows)", len(rows), n)
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// declaredInstance refuses an instance no sync of env writes to, naming
// the nearest ones: a typo would otherwise read "no dump under ...".
func declaredInstance(e *model.Estate, env, instance string) error {
	var declared []string
	for _, d := range e.JobsIn(env) {
		if d.Sync.Instance == instance {
			return nil
		}
		declared = append(declared, d.Sync.Instance)
	}
	return fmt.Errorf("no sync declares instance %q in %s (the nearest: %s)", instance, env, strings.Join(names.Nearest(instance, declared, 3), ", "))
}

// restoresReading names whose restores read env's bucket.
func restoresReading(e *model.Estate, env string) string {
	var envs []string
	for _, other := range e.Environments {
		if other.RestoreFrom == env {
			envs = append(envs, other.Name+"'s restores")
		}
	}
	if len(envs) == 0 {
		return "restores from " + env + " (none is declared)"
	}
	return strings.Join(envs, " and ")
}
