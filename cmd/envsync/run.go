package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/runner"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/engines"
)

func init() {
	var f struct {
		engine, host, user, database, owner, instance, bucket, environment,
		sanitise, filename, pushgateway, pod, sslmode, sslrootcert string
		port   int
		really bool
	}
	cmd := &cobra.Command{
		Use:   "run backup|restore|transform|publish [script]",
		Short: "Run one operation inside a CronJob: back up, restore, transform or publish a database",
		Long: `Run one operation, configured by the runner environment (README, "The
runner"; docs/contracts.md): ` + variableList(false) + `, and HOSTNAME.
Engines (DB_ENGINE): ` + strings.Join(engines.All.Names(), ", ") + `.
DB_SSLMODE is how every database session of the run uses TLS, the runner's
own and the client tools' alike, with libpq's meanings: disable, prefer (the
default: TLS when the server offers it), require (always TLS; the certificate
is checked against DB_SSLROOTCERT when given), verify-ca, verify-full (both
need DB_SSLROOTCERT, a PEM CA bundle).
Flags override the environment. There is no password flag: the password is
read from DB_PASSWORD only, as arguments are visible to every process.
S3 is configured by the AWS SDK's standard environment (AWS_REGION,
AWS_ENDPOINT_URL_S3, keys or a web identity token). Tuning:
ENVSYNC_PART_SIZE_MIB (8: dumps up to 78 GiB compressed),
ENVSYNC_UPLOAD_CONCURRENCY (2), ENVSYNC_COMPRESS_THREADS (1; 0: all cores),
ENVSYNC_RESTORE_LOCAL_COPY (false: a restore streams the dump in one pass;
true first checks it into a file under TMPDIR, then restores that file with
pg_restore --jobs, for servers with cores to spare),
ENVSYNC_POSTGRES_LOAD_SESSIONS (0: pg_restore loads the shadow on one
session; N: its script is run with each table's rows spread over N
sessions, for servers with cores to spare),
ENVSYNC_MYSQL_LOAD_WORKERS (connections loading rows into the MySQL shadow),
ENVSYNC_STALL_TIMEOUT (5m: a restore's download that receives nothing for
that long fails instead of hanging until the job's deadline),
ENVSYNC_SHRINK_FRACTION (0.5: a backup smaller than that fraction of the
previous complete dump does not move the pointer; 0: off) and
ENVSYNC_ACCEPT_SHRUNK_DUMP (true on a rerun moves it anyway),
ENVSYNC_KEEP_DUMPS (0: keep every dump; N >= 2: a successful backup
removes the dumps beyond the newest N, never the pointer's).
Every tuning variable: ` + variableList(true) + `.
A search cluster (DB_ENGINE opensearch) is DB_HOST, its URL; DB_DATABASE is
the pattern of the indices copied; SNAPSHOT_REPOSITORY the repository a
backup writes or a restore reads, and SNAPSHOTS_KEEP (1) the successful
snapshots a backup leaves. BUCKET is not used.
publish is a sanitised backup: the live database is dumped once (read-only
sessions) into a scratch server beside the runner (SCRATCH_HOST, default
127.0.0.1; SCRATCH_PORT, default the engine's; SCRATCH_USER; its password in
the file SCRATCH_PASSWORD_FILE), SANITISE_SCRIPT and the personal-data gate
(CLASSIFICATION) run there, and only the scratch's dump is stored in
BUCKET; RAW_BUCKET, when set, keeps the raw dump of the same read.
ENVSYNC_SCRATCH_WAIT (5m) is how long it waits for the scratch server.`,
		Args:      cobra.RangeArgs(1, 2),
		ValidArgs: []string{runner.OpBackup, runner.OpRestore, runner.OpTransform, runner.OpPublish},
		RunE: func(cmd *cobra.Command, args []string) error {
			op := args[0]
			// A typo is refused before anything is pushed: a series named
			// after it would fire "operation failed" forever.
			if err := runner.CheckOperation(op); err != nil {
				return err
			}
			cfg, cfgErr := runner.FromEnv(os.Getenv)
			fl := cmd.Flags()
			set := func(name string, dst *string, v string) {
				if fl.Changed(name) {
					*dst = v
				}
			}
			set("engine", &cfg.Engine, f.engine)
			set("host", &cfg.DB.Host, f.host)
			set("user", &cfg.DB.User, f.user)
			set("database", &cfg.DB.Database, f.database)
			set("owner", &cfg.DB.Owner, f.owner)
			set("instance", &cfg.Instance, f.instance)
			set("bucket", &cfg.Bucket, f.bucket)
			set("environment", &cfg.Environment, f.environment)
			set("sanitise-script", &cfg.SanitiseScript, f.sanitise)
			set("filename", &cfg.Filename, f.filename)
			set("pushgateway-url", &cfg.PushgatewayURL, f.pushgateway)
			set("pod", &cfg.Pod, f.pod)
			set("sslrootcert", &cfg.DB.TLS.RootCert, f.sslrootcert)
			if fl.Changed("sslmode") {
				mode, err := engine.ParseTLSMode(f.sslmode)
				cfg.DB.TLS.Mode = mode
				cfgErr = errors.Join(cfgErr, err)
			}
			if fl.Changed("port") {
				cfg.DB.Port = f.port
			}
			if fl.Changed("really-restore-onto-production") {
				cfg.ReallyRestoreOntoProduction = f.really
			}

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
	fl := cmd.Flags()
	fl.StringVar(&f.engine, "engine", "", "engine: postgres, mysql, mongo or opensearch (DB_ENGINE)")
	fl.StringVar(&f.host, "host", "", "database host (DB_HOST)")
	fl.IntVar(&f.port, "port", 0, "database port (DB_PORT)")
	fl.StringVar(&f.user, "user", "", "database user (DB_USER); the password comes from DB_PASSWORD only")
	fl.StringVar(&f.database, "database", "", "live database or schema (DB_DATABASE)")
	fl.StringVar(&f.owner, "owner", "", "owner role after a restore (DB_OWNER; default from the database name)")
	fl.StringVar(&f.instance, "instance", "", "instance name in object keys and metrics (DB_INSTANCE; default the host)")
	fl.StringVar(&f.bucket, "bucket", "", "s3://name or file:///path (BUCKET)")
	fl.StringVar(&f.environment, "environment", "", "environment name (ENVIRONMENT or GOVUK_ENVIRONMENT)")
	fl.StringVar(&f.sanitise, "sanitise-script", "", "path of the sanitise script run before the swap (SANITISE_SCRIPT)")
	fl.StringVar(&f.filename, "filename", "", "restore this key, file name or timestamp instead of the latest (FILENAME)")
	fl.BoolVar(&f.really, "really-restore-onto-production", false, "allow restoring into an environment whose name says production (REALLY_RESTORE_ONTO_PRODUCTION)")
	fl.StringVar(&f.pushgateway, "pushgateway-url", "", "Prometheus Pushgateway URL (PROMETHEUS_PUSHGATEWAY_URL)")
	fl.StringVar(&f.pod, "pod", "", "the instance label of metrics (HOSTNAME)")
	fl.StringVar(&f.sslmode, "sslmode", "", "TLS of every database session: disable, prefer, require, verify-ca or verify-full (DB_SSLMODE; default prefer)")
	fl.StringVar(&f.sslrootcert, "sslrootcert", "", "PEM CA bundle the server's certificate is checked against (DB_SSLROOTCERT)")
	root.AddCommand(cmd)
}

// variableList names the runner's variables of the contract (tuning
// false) or its tuning knobs, from the one table of them.
func variableList(tuning bool) string {
	var names []string
	for _, v := range contract.Variables {
		if v.Tuning == tuning {
			names = append(names, v.Name)
		}
	}
	return strings.Join(names, ", ")
}
