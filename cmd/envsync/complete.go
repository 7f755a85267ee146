package main

import (
	"slices"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/declare"
	"github.com/envsync/envsync/model"
)

// Shell completion offers what the estate declares: `envsync completion
// bash` (zsh, fish, powershell) prints the script to source.

// estateFor loads the estate of the repository the command runs in (its
// --root flag, else found upward), or nil.
func estateFor(cmd *cobra.Command) *model.Estate {
	dir := "."
	if f := cmd.Flags().Lookup("root"); f != nil && f.Value.String() != "" {
		dir = f.Value.String()
	}
	root, err := declare.FindRoot(dir)
	if err != nil {
		return nil
	}
	e, err := declare.Load(root)
	if err != nil {
		return nil
	}
	return e
}

// completeArgs completes positional arguments: each of kinds names what the
// argument at that position is ("environment", "sync", "instance").
func completeArgs(kinds ...string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		kind := ""
		switch {
		case len(args) < len(kinds):
			kind = kinds[len(args)]
		case len(kinds) > 0 && kinds[len(kinds)-1] == "sync...":
			kind = "sync..."
		}
		e := estateFor(cmd)
		if e == nil || kind == "" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		env := ""
		if len(args) > 0 {
			env = args[0]
		}
		switch kind {
		case "environment":
			for _, ev := range e.Environments {
				out = append(out, ev.Name)
			}
		case "sync", "sync...":
			for _, d := range jobsOf(e, env) {
				if !slices.Contains(args, d.Sync.Name) {
					out = append(out, d.Sync.Name)
				}
			}
		case "instance":
			for _, d := range jobsOf(e, env) {
				out = append(out, d.Sync.Instance)
			}
		}
		slices.Sort(out)
		return slices.Compact(out), cobra.ShellCompDirectiveNoFileComp
	}
}

// jobsOf is env's jobs, or every sync's when env is not declared.
func jobsOf(e *model.Estate, env string) []model.Deployed {
	if _, ok := e.Environment(env); ok {
		return e.JobsIn(env)
	}
	var out []model.Deployed
	for i := range e.Syncs {
		out = append(out, model.Deployed{Sync: &e.Syncs[i]})
	}
	return out
}
