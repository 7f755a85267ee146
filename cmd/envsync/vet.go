package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/check"
	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/timing"
)

func init() {
	var rootDir string
	var ages, strict, asJSON bool
	cmd := &cobra.Command{
		Use:   "vet",
		Short: "Check the declarations in syncs/ and list every error and ordering hazard, writing nothing",
		Long: `Check the declarations in syncs/ and list every error, warning, ordering
hazard and note, writing nothing. With --ages, also list for every restore
how old its data is when it lands: from the start of the backup at the top
of the flow (production's) to the end of the restore and its sanitising,
at best (every run quick) and at worst (every run at its tier's "taking a
long time" threshold, reading only what has finished).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, findings, err := loadAndCheck(rootDir)
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), jsonFindings(findings)); err != nil {
					return err
				}
			} else {
				printFindings(cmd.OutOrStdout(), findings)
			}
			if n := len(findings.Errors()); n > 0 {
				return fmt.Errorf("%d error(s) in the estate", n)
			}
			if n := len(findings.Unacknowledged()); strict && n > 0 {
				return fmt.Errorf("%d unacknowledged ordering hazard(s) (--strict): fix each as its message says, or acknowledge it with acknowledgeHazard and the reason", n)
			}
			if ages {
				printAges(cmd.OutOrStdout(), e)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rootDir, "root", "", "repository root holding cue.mod (default: found upward from the current directory)")
	cmd.Flags().BoolVar(&ages, "ages", false, "also list how old each restore's data is when it lands, at best and at worst")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the findings as JSON: a list of {kind, file, line, column, sync, environment, message, acknowledged}")
	cmd.Flags().BoolVar(&strict, "strict", false, "fail on an ordering hazard the estate has not acknowledged (for CI)")
	root.AddCommand(cmd)
}

// loadAndCheck finds the root, loads the estate and checks it. A load error
// (CUE or resolution) is returned as is; check findings are returned for
// the caller to print.
func loadAndCheck(rootDir string) (*model.Estate, check.Findings, error) {
	if rootDir == "" {
		rootDir = "."
	}
	r, err := declare.FindRoot(rootDir)
	if err != nil {
		return nil, nil, err
	}
	e, err := declare.Load(r)
	if err != nil {
		if es, ok := err.(declare.Errors); ok {
			return nil, nil, fmt.Errorf("%d error(s) in the declarations:\n%w", len(es), es)
		}
		return nil, nil, err
	}
	return e, check.Estate(e), nil
}

// printFindings lists errors, then every hazard, acknowledged ones marked
// with the estate's reason.
func printFindings(w io.Writer, fs check.Findings) {
	for _, f := range fs.Errors() {
		fmt.Fprintf(w, "error: %s\n", f)
	}
	for _, f := range fs.Warnings() {
		fmt.Fprintf(w, "warning: %s\n", f)
	}
	for _, f := range fs.Hazards() {
		if f.Acknowledged != "" {
			fmt.Fprintf(w, "hazard (acknowledged: %s): %s\n", f.Acknowledged, f)
		} else {
			fmt.Fprintf(w, "hazard: %s\n", f)
		}
	}
	for _, f := range fs.Notes() {
		fmt.Fprintf(w, "note: %s\n", f)
	}
	fmt.Fprintf(w, "%d error(s), %d hazard(s) of which %d acknowledged\n",
		len(fs.Errors()), len(fs.Hazards()), len(fs.Hazards())-len(fs.Unacknowledged()))
}

// printAges lists, per restoring job, how old its data is when it lands.
func printAges(w io.Writer, e *model.Estate) {
	flow := timing.NewFlow(e)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSYNC\tENVIRONMENT\tDATA FROM\tAGE AT BEST\tAGE AT WORST")
	for i := range e.Syncs {
		s := &e.Syncs[i]
		for k := range s.Jobs {
			j := &s.Jobs[k]
			if a, ok := flow.Age(s, j); ok {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, j.Environment, a.From, timing.Short(a.Best), timing.Short(a.Worst))
			}
		}
	}
	tw.Flush()
}

// jsonFinding is a finding as vet --json writes it.
type jsonFinding struct {
	Kind         string `json:"kind"` // error, warning, hazard, note
	File         string `json:"file,omitempty"`
	Line         int    `json:"line,omitempty"`
	Column       int    `json:"column,omitempty"`
	Sync         string `json:"sync,omitempty"`
	Environment  string `json:"environment,omitempty"`
	Message      string `json:"message"`
	Acknowledged string `json:"acknowledged,omitempty"`
}

func jsonFindings(fs check.Findings) []jsonFinding {
	out := []jsonFinding{}
	for _, f := range fs {
		kind := "error"
		switch {
		case f.Hazard:
			kind = "hazard"
		case f.Warning:
			kind = "warning"
		case f.Note:
			kind = "note"
		}
		out = append(out, jsonFinding{Kind: kind, File: f.Pos.File, Line: f.Pos.Line, Column: f.Pos.Col, Sync: f.Sync,
			Environment: f.Environment, Message: f.Msg, Acknowledged: f.Acknowledged})
	}
	return out
}
