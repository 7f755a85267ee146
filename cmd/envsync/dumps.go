package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/runner/catalog"
	"github.com/envsync/envsync/runner/layout"
	"github.com/envsync/envsync/runner/storage"
)

func init() {
	var rootDir, bucketFlag string
	var verify bool
	cmd := &cobra.Command{
		Use:   "dumps ENVIRONMENT INSTANCE [DATABASE]",
		Short: "List the dumps of an instance in an environment's bucket, newest first, and which one a restore would read",
		Long: `List the dumps of INSTANCE (of DATABASE only, when given) in the bucket
that syncs/estate.cue declares for ENVIRONMENT (or --bucket), newest first:
when each was taken, its size, its checksum (none: no sidecar, as the old
scripts wrote; recorded; verified or MISMATCH with --verify, which
downloads each dump) and which one the pointer names — the dump a restore
reads unless FILENAME says otherwise. S3 is configured as for envsync run
(AWS_REGION, AWS_ENDPOINT_URL_S3, keys or a web identity).`,
		Args: namedArgs(2, "ENVIRONMENT", "INSTANCE", "DATABASE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, instance, database := args[0], args[1], ""
			if len(args) == 3 {
				database = args[2]
			}
			bucket := bucketFlag
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
			}
			st, err := storage.Open(cmd.Context(), bucket, storage.S3Options{})
			if err != nil {
				return err
			}
			entries, err := catalog.List(cmd.Context(), st, instance, database, verify)
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return fmt.Errorf("no dump under %s/%s/", st, instance)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TAKEN (UTC)\tDATABASE\tSIZE\tCHECKSUM\tKEY\t")
			for _, e := range entries {
				mark := ""
				if e.Latest {
					mark = "<- latest (what a restore reads)"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(layout.TimeFormat), e.Database, size(e.Size), e.Checksum, e.Key, mark)
			}
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&rootDir, "root", "", "repository root holding cue.mod (default: found upward from the current directory)")
	f.StringVar(&bucketFlag, "bucket", "", "s3://name or file:///path to list instead of the environment's declared bucket")
	f.BoolVar(&verify, "verify", false, "download every dump with a checksum sidecar and check its SHA-256")
	root.AddCommand(cmd)
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
