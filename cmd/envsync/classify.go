package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/runner"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engines"
	"github.com/envsync/envsync/runner/gate"
)

func init() {
	var sample int
	var domains []string
	cmd := &cobra.Command{
		Use:   "classify SYNC",
		Short: "Draft a sync's classification, for review, from its database",
		Long: `Connect to a database as the runner does (DB_ENGINE, DB_HOST, DB_PORT,
DB_USER, DB_PASSWORD, DB_DATABASE, DB_SSLMODE, DB_SSLROOTCERT; PostgreSQL
and MySQL), list every table and column, and print, in CUE, a first draft
of the sync's classification for the personal-data gate: a column is
personal when its name says so (email, phone, postcode, token, ...) or when
a sample of its values holds e-mail addresses, UK phone numbers or National
Insurance numbers; public otherwise. Review every line before committing
it under syncs.<SYNC>.classification. Nothing is written to the database
(PostgreSQL's session is read-only).`,
		Args:              namedArgs(1, "SYNC"),
		ValidArgsFunction: completeArgs("sync"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := runner.FromEnv(os.Getenv)
			if err != nil {
				return err
			}
			cfg = cfg.WithDefaults()
			factory, ok := engines.All.Streaming[cfg.Engine]
			if !ok {
				return fmt.Errorf("DB_ENGINE %q: classify reads postgres or mysql", cfg.Engine)
			}
			eng, err := factory(cfg.DB)
			if err != nil {
				return err
			}
			in, ok := eng.(engine.Inspector)
			if !ok {
				return fmt.Errorf("DB_ENGINE %s: the personal-data gate is not built for it yet", cfg.Engine)
			}
			db, closeDB, err := in.Inspect(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			tables, err := gate.Draft(cmd.Context(), db, sample, domains)
			if err != nil {
				return err
			}
			return writeClassification(cmd.OutOrStdout(), args[0], tables)
		},
	}
	cmd.Flags().IntVar(&sample, "sample", gate.DefaultSampleRows, "rows of each text column the detectors read")
	cmd.Flags().StringSliceVar(&domains, "allowed-email-domain", nil, "a domain whose addresses are not personal (repeatable)")
	root.AddCommand(cmd)
}

var cueIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// cueLabel writes a label bare where CUE allows, quoted otherwise.
func cueLabel(s string) string {
	if cueIdent.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

// writeClassification prints the draft as a CUE fragment of the sync.
func writeClassification(w io.Writer, sync string, tables map[string]map[string]string) error {
	fmt.Fprintf(w, "// A draft by envsync classify: review every line.\nsyncs: %s: classification: {\n", strconv.Quote(sync))
	for _, t := range slices.Sorted(maps.Keys(tables)) {
		fmt.Fprintf(w, "\t%s: {\n", cueLabel(t))
		for _, c := range slices.Sorted(maps.Keys(tables[t])) {
			fmt.Fprintf(w, "\t\t%s: %q\n", cueLabel(c), tables[t][c])
		}
		fmt.Fprintf(w, "\t}\n")
	}
	_, err := fmt.Fprintf(w, "}\n")
	return err
}
