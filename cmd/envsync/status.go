package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/spf13/cobra"

	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/rules"
	"github.com/envsync/envsync/status"
)

func init() {
	var prometheus, environment, rootDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status --prometheus URL",
		Short: "What the dashboard shows, in a terminal: each operation's last state, last success, data age and firing alerts",
		Long: `Ask an environment's Prometheus (the one that scrapes its Pushgateway) for
every sync's operations: the last state (failed, running, succeeded), when
it last succeeded, for restores how old the dump they loaded was, and which
alerts fire for it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if prometheus == "" {
				return fmt.Errorf("--prometheus is required: the URL of the environment's Prometheus")
			}
			client, err := promapi.NewClient(promapi.Config{Address: prometheus})
			if err != nil {
				return err
			}
			now := time.Now()
			var declared []rules.Series
			if environment != "" {
				e, findings, err := loadAndCheck(rootDir)
				if err != nil {
					return err
				}
				if err := findings.Err(); err != nil {
					return err
				}
				if _, ok := e.Environment(environment); !ok {
					return fmt.Errorf("environment %q is not declared (declared: %s)", environment, strings.Join(environmentNames(e), ", "))
				}
				declared = rules.Expected(e, environment)
			}
			rows, err := status.Query(cmd.Context(), promv1.NewAPI(client), now, declared)
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				return fmt.Errorf("%s holds no envsync series: is it the environment's Prometheus, scraping its Pushgateway?", prometheus)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "INSTANCE\tDATABASE\tOPERATION\tSTATE\tLAST SUCCESS\tDATA AGE\tFIRING\tPENDING\t")
			for _, r := range rows {
				state := status.StateName(r.State)
				switch {
				case r.State < 0 && r.Declared && r.Expected:
					state = "never reported"
				case r.State < 0 && r.Declared:
					state = "never reported (suspended)"
				case environment != "" && !r.Declared:
					state += " (undeclared)"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Instance, r.Database, r.Operation, state,
					ago(now, r.LastSuccess, "never"), ago(now, r.DumpTaken, "-"), strings.Join(r.Firing, ","), strings.Join(r.Pending, ","))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&prometheus, "prometheus", "", "URL of the environment's Prometheus")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rows as JSON")
	cmd.Flags().StringVar(&environment, "environment", "", "the environment of that Prometheus: one row for every operation its jobs declare, including those that never reported")
	cmd.Flags().StringVar(&rootDir, "root", "", "repository root holding cue.mod (default: found upward from the current directory)")
	root.AddCommand(cmd)
}

// ago is how long before now t was, rounded for reading; none when t is zero.
func ago(now, t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	d := now.Sub(t)
	switch {
	case d < time.Hour:
		return d.Round(time.Minute).String() + " ago"
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1fh ago", d.Hours())
	}
	return fmt.Sprintf("%.1fd ago", d.Hours()/24)
}

func environmentNames(e *model.Estate) []string {
	var names []string
	for _, env := range e.Environments {
		names = append(names, env.Name)
	}
	return names
}
