package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/envsync/envsync/local"
)

func init() {
	var (
		out, manifests, secrets string
		configMapFiles          []string
		dbs, scratches          []string
		o                       local.Overrides
		force, dryRun           bool
	)
	cmd := &cobra.Command{
		Use:   "local ENVIRONMENT [CRONJOB...]",
		Short: "Run an environment's generated CronJobs as local processes",
		Long: `local runs the generated CronJobs of one environment (out/ENVIRONMENT/manifests)
on this machine: every container of a job, in order, as a process of this
envsync binary with exactly the container's arguments and environment,
stopping at the first container that fails. Without CRONJOB names it runs
every CronJob of the environment, by name, and skips suspended ones.

What a cluster resolves is resolved locally:
  secretKeyRef, envFrom secretRef  from --secrets (a YAML file, or env:NAME for
                                   YAML in an environment variable), mapping
                                   secret name -> key -> value
  configMap volumes                written from the generated configmap-*.yaml
                                   (or --configmap-file NAME/KEY=PATH for one
                                   out/ lacks, such as a CA bundle's) into a
                                   temporary directory; paths under the mount
                                   (SANITISE_SCRIPT, DB_SSLROOTCERT) point there
  emptyDir /tmp                    a temporary directory, given as TMPDIR
  fieldRef metadata.name, HOSTNAME the pod name, <cronjob>-<minute>-local
From the caller's environment only PATH, HOME, LANG, LC_ALL, TZ, USER and
AWS_* (S3 credentials and region) pass through.

Endpoints change only through these overrides:
  --db INSTANCE=HOST:PORT   DB_HOST and DB_PORT of the containers whose
                            DB_INSTANCE (else DB_HOST) is INSTANCE; database
                            names are kept. Once one --db is given, every job
                            run needs one.
  --s3-endpoint URL         AWS_ENDPOINT_URL_S3; s3:// bucket names are kept
  --buckets-dir DIR         BUCKET=s3://NAME becomes file://DIR/NAME
  --pushgateway URL         PROMETHEUS_PUSHGATEWAY_URL
  --filename KEY|TIMESTAMP  FILENAME of the restore containers: restore that
                            dump instead of the latest (envsync dumps lists them)
  --only OPERATION          run only that operation's containers (repeatable):
                            a roll-back to an older dump is --only restore, or
                            the backup after it publishes the old data as the
                            newest dump for the environments downstream
  --set-env NAME=VALUE      a variable of every container, for a stand-in`,
		Example: `  envsync local staging chat-postgres --secrets secrets.yaml \
    --db chat-postgres=127.0.0.1:5432 --s3-endpoint http://127.0.0.1:7070 \
    --pushgateway http://127.0.0.1:9091`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeArgs("environment", "sync..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, names := args[0], args[1:]
			if manifests == "" {
				manifests = filepath.Join(out, env, "manifests")
				// A misspelt environment is told which ones there are.
				if _, err := os.Stat(manifests); err != nil {
					dirs, _ := filepath.Glob(filepath.Join(out, "*", "manifests"))
					var envs []string
					for _, d := range dirs {
						envs = append(envs, filepath.Base(filepath.Dir(d)))
					}
					if len(envs) > 0 {
						return fmt.Errorf("no environment %q in %s/ (generated: %s)", env, out, strings.Join(envs, ", "))
					}
				}
			}
			m, err := local.LoadManifests(manifests)
			if err != nil {
				return err
			}
			// A manifests directory of another environment would run its jobs
			// against this environment's servers.
			for _, cj := range m.CronJobs {
				if got, ok := cj.Labels["envsync.io/environment"]; ok && got != env {
					return fmt.Errorf("%s: CronJob %s belongs to environment %q, not %q", m.Files[cj.Name], cj.Name, got, env)
				}
			}
			for k := range o.Env {
				if strings.Contains(k, "PASSWORD") || strings.Contains(k, "SECRET") || strings.Contains(k, "TOKEN") {
					return fmt.Errorf("--set-env %s: secrets come from --secrets, never the command line, where every process sees them", k)
				}
			}
			if o.Databases, err = endpoints("db", "INSTANCE", dbs); err != nil {
				return err
			}
			if o.Scratch, err = endpoints("scratch", "ENGINE", scratches); err != nil {
				return err
			}
			var s local.Secrets
			if secrets != "" {
				if s, err = local.LoadSecrets(secrets); err != nil {
					return err
				}
			}
			configMaps := map[string]map[string]string{}
			for _, cf := range configMapFiles {
				nameKey, path, ok := strings.Cut(cf, "=")
				name, key, ok2 := strings.Cut(nameKey, "/")
				if !ok || !ok2 || name == "" || key == "" {
					return fmt.Errorf("--configmap-file %q: want NAME/KEY=PATH", cf)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("--configmap-file %s: %w", nameKey, err)
				}
				if configMaps[name] == nil {
					configMaps[name] = map[string]string{}
				}
				configMaps[name][key] = string(b)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			r := &local.Runner{
				Binary: self, Manifests: m, Secrets: s, ConfigMaps: configMaps, Overrides: o, Force: force,
				Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(),
				Log: slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil)).With("environment", env), // JSON, like the runner it starts
			}
			jobs := m.CronJobs
			if len(names) > 0 {
				jobs = nil
				for _, n := range names {
					cj, err := m.CronJob(n)
					if err != nil {
						return err
					}
					jobs = append(jobs, cj)
				}
			}
			if dryRun {
				r.PlanOnly = true
				return printPlans(cmd, r, jobs)
			}
			var failed []string
			for _, cj := range jobs {
				err := r.Run(cmd.Context(), cj)
				switch {
				case err == nil:
				case errors.Is(err, local.ErrSuspended) && len(names) == 0:
					// A night skips suspended CronJobs; naming one asks for it.
				default:
					failed = append(failed, cj.Name)
					if errors.Is(err, local.ErrSuspended) {
						r.Log.Error("not run: suspended (use --force)", "job", cj.Name)
					}
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("%s: %d of %d jobs failed: %s", env, len(failed), len(jobs), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "out", "directory that make gen wrote")
	f.StringVar(&manifests, "manifests", "", "manifests directory to read instead of OUT/ENVIRONMENT/manifests")
	f.StringVar(&secrets, "secrets", "", "YAML file (or env:NAME) mapping secret name -> key -> value")
	f.StringArrayVar(&configMapFiles, "configmap-file", nil, "NAME/KEY=PATH: key KEY of ConfigMap NAME, which out/ does not hold (a CA bundle), from the file PATH (repeatable)")
	f.StringArrayVar(&dbs, "db", nil, "INSTANCE=HOST:PORT of a local database server standing in for an instance (repeatable)")
	f.StringArrayVar(&scratches, "scratch", nil, "ENGINE=HOST:PORT of a local server standing in for a publishing job's scratch sidecar, its username and password in --secrets under envsync-scratch-ENGINE (repeatable)")
	f.StringVar(&o.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL given as AWS_ENDPOINT_URL_S3")
	f.StringVar(&o.BucketsDir, "buckets-dir", "", "serve s3://NAME buckets from DIR/NAME instead of S3")
	f.StringVar(&o.Pushgateway, "pushgateway", "", "Pushgateway URL given as PROMETHEUS_PUSHGATEWAY_URL")
	f.StringVar(&o.Filename, "filename", "", "restore this dump (a key, file name or timestamp) instead of the latest: FILENAME of the restore containers")
	f.StringArrayVar(&o.Only, "only", nil, "run only this operation's containers (restore, transform, backup; repeatable): --only restore for a roll-back")
	f.StringToStringVar(&o.Env, "set-env", nil, "NAME=VALUE set in every container, for what a local stand-in needs (DB_AUTH_MECHANISM=PLAIN for FerretDB); never a secret, which --secrets gives")
	f.BoolVar(&force, "force", false, "run suspended CronJobs too")
	f.BoolVar(&dryRun, "dry-run", false, "print each container's command and environment (secrets hidden) without running")
	root.AddCommand(cmd)
}

// printPlans shows what would run, with secret values hidden.
func printPlans(cmd *cobra.Command, r *local.Runner, jobs []*batchv1.CronJob) error {
	work, err := os.MkdirTemp("", "envsync-local-plan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	w := cmd.OutOrStdout()
	for _, cj := range jobs {
		p, err := r.PlanJob(cj, filepath.Join(work, cj.Name))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "# %s (pod %s, suspended %t, deadline %s)\n", p.Job, p.Pod, p.Suspended, p.Deadline)
		for _, proc := range p.Processes {
			fmt.Fprintf(w, "%s: envsync %s\n", proc.Container, strings.Join(proc.Args, " "))
			for _, kv := range proc.Redacted() {
				fmt.Fprintf(w, "    %s\n", kv)
			}
		}
	}
	return nil
}

// endpoints reads the values of flag --name, each KEY=HOST:PORT.
func endpoints(name, key string, values []string) (map[string]local.Endpoint, error) {
	out := map[string]local.Endpoint{}
	for _, v := range values {
		k, addr, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want %s=HOST:PORT", name, v, key)
		}
		ep, err := local.ParseEndpoint(addr)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", name, k, err)
		}
		out[k] = ep
	}
	return out, nil
}
