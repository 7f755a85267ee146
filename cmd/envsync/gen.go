package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/gen"
)

func init() {
	var rootDir string
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Compile syncs/ into out/<environment>/; writes nothing when there is an error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, findings, err := loadAndCheck(rootDir)
			if err != nil {
				return err
			}
			if err := findings.Err(); err != nil {
				return fmt.Errorf("%w\nnothing written", err)
			}
			for _, f := range append(findings.Warnings(), findings.Unacknowledged()...) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", f)
			}
			files, err := gen.Generate(e)
			if err != nil {
				return fmt.Errorf("%w\nnothing written", err)
			}
			removed, err := gen.Removed(e.Root, files)
			if err != nil {
				return err
			}
			if err := gen.Write(e.Root, files); err != nil {
				return err
			}
			// out/ holds exactly what gen writes: say what that took away,
			// so that a file added there by hand is not lost silently.
			for _, p := range removed {
				fmt.Fprintf(cmd.ErrOrStderr(), "removed %s: not generated from syncs/ (any more)\n", p)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d files to %s/\n", len(files), gen.OutDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&rootDir, "root", "", "repository root holding cue.mod (default: found upward from the current directory)")
	root.AddCommand(cmd)
}
