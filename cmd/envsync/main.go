// Command envsync compiles sync declarations into deployable artefacts
// (gen, vet) and runs the operations inside the generated CronJobs (run).
// Each command lives in its own file and registers itself on root; the logic
// lives in the packages they call.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var root = &cobra.Command{
	Use:           "envsync",
	Short:         "Copy databases between environments, declared once in CUE",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "envsync:", err)
		os.Exit(1)
	}
}
