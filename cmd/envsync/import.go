package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/chartimport"
	"github.com/envsync/envsync/check"
	"github.com/envsync/envsync/declare"
)

func init() {
	var rootDir string
	var acceptDropped bool
	o := chartimport.Options{}
	cmd := &cobra.Command{
		Use:   "import VALUES",
		Short: "Write syncs/ from the values file of the db-backup chart envsync replaces",
		Long: `Read a values file of the db-backup Helm chart (cronjobs.<environment>.<job>)
and write the declarations that make the same jobs: syncs/estate.cue
(environments, buckets, flow, schedule classes, tiers) and one file per
app, with the transforms' scripts under syncs/sanitise/. It reports every
value it could not express or had to infer, refuses to write beside
existing declarations, and writes nothing that envsync vet would reject.`,
		Args: namedArgs(1, "VALUES"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rootDir == "" {
				rootDir = "."
			}
			root, err := declare.FindRoot(rootDir)
			if err != nil {
				return err
			}
			v, err := chartimport.Load(args[0])
			if err != nil {
				return err
			}
			if err := noDeclarations(root); err != nil {
				return err
			}
			res, err := chartimport.Import(v, o)
			if err != nil {
				return fmt.Errorf("%w\nnothing written", err)
			}
			findings, err := vetImport(root, res.Files)
			if err != nil {
				return fmt.Errorf("%w\nnothing written", err)
			}
			out := cmd.OutOrStdout()
			for _, r := range res.Report {
				fmt.Fprintf(out, "not expressed or inferred: %s\n", r)
			}
			if len(res.Dropped) > 0 {
				fmt.Fprintf(out, "\ndropped jobs (no declaration makes them):\n")
				for _, d := range res.Dropped {
					fmt.Fprintf(out, "  %s\n", d)
				}
				if !acceptDropped {
					return fmt.Errorf("%d job(s) of the values file would be dropped (listed above): declare them by hand, or pass --accept-dropped to write the rest; nothing written", len(res.Dropped))
				}
			}
			printFindings(out, findings)
			if err := writeNew(root, res.Files); err != nil {
				return err
			}
			fmt.Fprintf(out, "wrote %d files to %s/\n", len(res.Files), chartimport.SyncsDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rootDir, "root", "", "repository root holding cue.mod (default: found upward from the current directory)")
	f.BoolVar(&acceptDropped, "accept-dropped", false, "write the declarations even though some jobs of the values file are dropped")
	f.StringVar(&o.Namespace, "namespace", "apps", "namespace of every environment's jobs (the chart's release namespace)")
	f.StringVar(&o.JobNamePrefix, "job-name-prefix", "db-backup-", "the chart's CronJob names start with this (its release name and -)")
	f.StringVar(&o.Image, "image", "ghcr.io/envsync/envsync:v0.1.0", "envsync's runner image")
	f.StringVar(&o.Pushgateway, "pushgateway", "http://prometheus-pushgateway.monitoring.svc.cluster.local:9091", "the Prometheus Pushgateway every job reports to")
	f.StringToStringVar(&o.Buckets, "bucket", nil, "an environment's bucket the values file does not show: ENVIRONMENT=s3://... (repeatable)")
	f.StringVar(&o.ScriptsDir, "scripts", "", "directory of the transforms' scripts (default: the values file's)")
	root.AddCommand(cmd)
}

// noDeclarations refuses to import beside an estate: nothing already
// declared is replaced or mixed with the import.
func noDeclarations(root string) error {
	existing, _ := filepath.Glob(filepath.Join(root, chartimport.SyncsDir, "*.cue"))
	if len(existing) > 0 {
		return fmt.Errorf("%s already holds declarations (%s): import into a repository without them, then merge by hand; nothing written",
			filepath.Join(root, chartimport.SyncsDir), filepath.Base(existing[0]))
	}
	return nil
}

// vetImport loads the imported files beside root's cue.mod and schema, in
// a temporary directory, and checks them as envsync vet does. Errors there
// are the import's own failing, reported as such.
func vetImport(root string, files []chartimport.File) (check.Findings, error) {
	tmp, err := os.MkdirTemp("", "envsync-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, dir := range []string{"cue.mod", "schema"} {
		if err := os.CopyFS(filepath.Join(tmp, dir), os.DirFS(filepath.Join(root, dir))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	for _, f := range files {
		if !chartimport.InSyncsDir(f.Path) {
			return nil, fmt.Errorf("the import would write %q, outside %s/", f.Path, chartimport.SyncsDir)
		}
		p := filepath.Join(tmp, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return nil, err
		}
	}
	e, err := declare.Load(tmp)
	if err != nil {
		return nil, fmt.Errorf("the imported declarations do not load (a bug of envsync import; please report it with the values file):\n%w", err)
	}
	findings := check.Estate(e)
	if errs := findings.Errors(); len(errs) > 0 {
		var b strings.Builder
		for _, f := range errs {
			fmt.Fprintf(&b, "\n  %s", f)
		}
		return nil, fmt.Errorf("the imported declarations fail vet (a bug of envsync import; please report it with the values file):%s", b.String())
	}
	return findings, nil
}

// writeNew writes files under root, none over a file with other content.
func writeNew(root string, files []chartimport.File) error {
	for _, f := range files {
		if !chartimport.InSyncsDir(f.Path) {
			return fmt.Errorf("the import would write %q, outside %s/; nothing written", f.Path, chartimport.SyncsDir)
		}
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if old, err := os.ReadFile(p); err == nil && !bytes.Equal(old, f.Data) {
			return fmt.Errorf("%s exists with other content: not replaced; nothing written", p)
		}
	}
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
