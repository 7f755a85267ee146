package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/runner"
	"github.com/envsync/envsync/runner/engines"
)

func init() {
	flags := map[string]*string{} // variable name -> its flag's value
	cmd := &cobra.Command{
		Use:   "run backup|restore|transform|publish [script]",
		Short: "Run one operation inside a CronJob: back up, restore, transform or publish a database",
		Long: `Run one operation, configured by the runner environment (README, "The
runner"; docs/contracts.md). Flags override their variables; there is no
password flag. Every bad setting is reported at once, and reported as the
operation's failure. publish is a sanitised backup: the live database is
dumped once (read-only sessions) into a scratch server beside the runner,
SANITISE_SCRIPT and the personal-data gate (CLASSIFICATION) run there, and
only the scratch's dump is stored in BUCKET. Engines (DB_ENGINE): ` + strings.Join(engines.All.Names(), ", ") + `.

The contract (the generator sets these):
` + variableHelp(false) + `
Tuning (a sync's env may set these):
` + variableHelp(true),
		Args:      cobra.RangeArgs(1, 2),
		ValidArgs: []string{runner.OpBackup, runner.OpRestore, runner.OpTransform, runner.OpPublish},
		RunE: func(cmd *cobra.Command, args []string) error {
			op := args[0]
			// A typo is refused before anything is pushed: a series named
			// after it would fire "operation failed" forever.
			if err := runner.CheckOperation(op); err != nil {
				return err
			}
			// A flag given stands in for its variable: the runner parses
			// each setting once, whichever way it came.
			getenv := func(name string) string {
				if v, ok := flags[name]; ok && cmd.Flags().Changed(flagOf(name)) {
					return *v
				}
				return os.Getenv(name)
			}
			cfg, cfgErr := runner.FromEnv(getenv)

			runner.Version = root.Version
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := runner.NewLogger(cfg)
			// The engines get this logger (engine.Config.Log); anything else
			// that logs through slog's default gets the same JSON and redaction.
			slog.SetDefault(log)
			// Say when the stop arrives, not only how the run ended: the
			// operator learns in which phase the pod was stopped.
			context.AfterFunc(ctx, func() {
				// A signal is the cause; the deferred stop at the end of a
				// run cancels with context.Canceled itself (a signal's cause
				// is another error, which errors.Is still calls Canceled).
				if cause := context.Cause(ctx); cause != context.Canceled {
					log.Warn("stop requested, stopping and cleaning up", "cause", cause.Error())
				}
			})
			// Every failure from here on is one of a known operation: it is
			// reported, so that the "operation failed" alert fires.
			if cfgErr != nil {
				runner.ReportFailure(ctx, op, cfg, cfgErr, log)
				return cfgErr
			}
			r, err := runner.Open(ctx, op, cfg, engines.All, log)
			if err != nil {
				runner.ReportFailure(ctx, op, cfg, err, log)
				return err
			}
			return r.Run(ctx, op, args[1:])
		},
	}
	for _, v := range append(contract.Variables, contract.Pod) {
		if v.Flag == "" {
			continue
		}
		flags[v.Name] = cmd.Flags().String(v.Flag, "", v.Doc+" ("+v.Name+")")
		if v.Switch {
			cmd.Flags().Lookup(v.Flag).NoOptDefVal = "true"
		}
	}
	root.AddCommand(cmd)
}

// variableHelp lists the runner's variables of the contract (tuning false)
// or its tuning knobs, one a line with what it does, from the one table.
func variableHelp(tuning bool) string {
	var b strings.Builder
	for _, v := range contract.Variables {
		if v.Tuning == tuning {
			fmt.Fprintf(&b, "  %s: %s\n", v.Name, v.Doc)
		}
	}
	if !tuning {
		fmt.Fprintf(&b, "  %s: %s\n", contract.Pod.Name, contract.Pod.Doc)
	}
	return b.String()
}

// flagOf is the flag of the variable called name.
func flagOf(name string) string {
	for _, v := range append(contract.Variables, contract.Pod) {
		if v.Name == name {
			return v.Flag
		}
	}
	return ""
}
