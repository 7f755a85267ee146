package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/check"
	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/model"
)

func init() {
	var rootDir string
	cmd := &cobra.Command{
		Use:   "vet",
		Short: "Check the declarations in syncs/ and list every error and ordering hazard, writing nothing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, findings, err := loadAndCheck(rootDir)
			if err != nil {
				return err
			}
			printFindings(cmd.OutOrStdout(), findings)
			if n := len(findings.Errors()); n > 0 {
				return fmt.Errorf("%d error(s) in the estate", n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rootDir, "root", "", "repository root holding cue.mod (default: found upward from the current directory)")
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
	fmt.Fprintf(w, "%d error(s), %d hazard(s) of which %d acknowledged\n",
		len(fs.Errors()), len(fs.Hazards()), len(fs.Hazards())-len(fs.Unacknowledged()))
}
