package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/estatediff"
)

func init() {
	var rootDir, baseRev, baseRoot string
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Say what a change to syncs/ does, per environment, for a pull request",
		Long: `Compare the estate with the one at a git revision (--base, default HEAD)
or in another directory (--base-root), and print in Markdown, per
environment, what a reviewer needs to know: the jobs added, removed or
changed (operations, schedule, flow, scripts, classification, suspension),
the ordering hazards that appear or go, the data ages that move, and the
instances each alert selects. Paste it into the pull request; out/ holds
the same change as files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			after, _, err := loadAndCheck(rootDir)
			if err != nil {
				return err
			}
			if baseRoot == "" {
				dir, err := estateAt(after.Root, baseRev)
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				baseRoot = dir
			}
			before, err := declare.Load(baseRoot)
			if err != nil {
				return fmt.Errorf("the base estate: %w", err)
			}
			s, err := estatediff.Summary(before, after)
			if err != nil {
				return err
			}
			if s == "" {
				s = "No change to any job, hazard, data age or alert.\n"
			}
			fmt.Fprint(cmd.OutOrStdout(), s)
			return nil
		},
	}
	cmd.Flags().StringVar(&rootDir, "root", "", "repository root holding cue.mod (default: found upward from the current directory)")
	cmd.Flags().StringVar(&baseRev, "base", "HEAD", "the git revision to compare with")
	cmd.Flags().StringVar(&baseRoot, "base-root", "", "a directory holding the estate to compare with (cue.mod, schema, syncs), instead of a revision")
	root.AddCommand(cmd)
}

// estateAt writes the estate of the repository at root as it was at rev
// (cue.mod, schema and syncs) into a new temporary directory.
func estateAt(root, rev string) (string, error) {
	dir, err := os.MkdirTemp("", "envsync-diff-")
	if err != nil {
		return "", err
	}
	var archive, stderr bytes.Buffer
	git := exec.Command("git", "-C", root, "archive", "--format=tar", rev, "cue.mod", "schema", "syncs")
	git.Stdout, git.Stderr = &archive, &stderr
	if err := git.Run(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("reading the estate at %s: git archive: %v: %s", rev, err, bytes.TrimSpace(stderr.Bytes()))
	}
	tar := exec.Command("tar", "-x", "-C", dir)
	tar.Stdin, tar.Stderr = &archive, &stderr
	if err := tar.Run(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("unpacking the estate at %s: %v: %s", rev, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return filepath.Clean(dir), nil
}
