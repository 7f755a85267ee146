// Command envsync compiles sync declarations into deployable artefacts
// (gen, vet) and runs the operations inside the generated CronJobs (run).
// Each command lives in its own file and registers itself on root; the logic
// lives in the packages they call.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

var root = &cobra.Command{
	Use:           "envsync",
	Short:         "Copy databases between environments, declared once in CUE",
	Version:       version(),
	SilenceUsage:  true,
	SilenceErrors: true,
}

// version is the module version envsync was built from (go install
// ...@v1.2.3), else the VCS revision it was built at, with "+dirty" for
// uncommitted changes.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return rev[:min(12, len(rev))] + dirty
}

func main() {
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "envsync:", err)
		os.Exit(1)
	}
}

// namedArgs accepts from min to len(names) arguments and, when one is
// missing or one too many, says which by name ("missing INSTANCE"), where
// cobra would only count them.
func namedArgs(min int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return fmt.Errorf("missing %s (usage: %s)", strings.Join(names[len(args):min], " and "), cmd.UseLine())
		case len(args) > len(names):
			return fmt.Errorf("unexpected argument %q after %s (usage: %s)", args[len(names)], strings.Join(names, " "), cmd.UseLine())
		}
		return nil
	}
}

// writeJSON writes v as indented JSON, for --json: what a script or a
// dashboard reads instead of the table a person does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
