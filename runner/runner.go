// Package runner composes an engine, a store, compression, checksums,
// progress logs and metrics into the operations the CronJobs run: backup,
// restore and transform. cmd/envsync only wires the environment and flags
// into a Config.
package runner

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"time"

	"github.com/envsync/envsync/runner/compress"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/metrics"
	"github.com/envsync/envsync/runner/storage"
)

// Operations, as named in metrics and container names.
const (
	OpBackup    = "backup"
	OpRestore   = "restore"
	OpTransform = "transform"
	// OpPublish is a sanitised backup: the live dump is loaded into a
	// scratch server, sanitised there, and the scratch's dump is published.
	OpPublish = "publish"
)

// Version is envsync's version, for the first line of every run's log
// (cmd/envsync sets it from the build).
var Version = "devel"

// EngineFactory makes a streaming engine from the connection settings;
// each engine package's New is one.
type EngineFactory func(engine.Config) (engine.Engine, error)

// SnapshotFactory makes a snapshot engine from the run's settings.
type SnapshotFactory func(Config, *slog.Logger) (engine.SnapshotEngine, error)

// Engines are the engines the runner knows, by DB_ENGINE, of each kind.
// Package runner/engines is the one place they are named.
type Engines struct {
	Streaming map[string]EngineFactory
	Snapshot  map[string]SnapshotFactory
}

// Names lists every engine's name, sorted.
func (e Engines) Names() []string {
	n := append(slices.Collect(maps.Keys(e.Streaming)), slices.Collect(maps.Keys(e.Snapshot))...)
	slices.Sort(n)
	return n
}

// Runner runs operations for one sync.
type Runner struct {
	cfg    Config
	store  storage.Store // nil for a transform
	eng    engine.Engine
	search engine.SnapshotEngine // a snapshot engine (a search cluster) instead of eng and store
	// A publish's scratch server and its raw bucket (nil: none kept).
	scratch engine.Engine
	raw     storage.Store
	push    *metrics.Pusher
	log     *slog.Logger
	redact  *redactor
	now     func() time.Time
}

// NewLogger is the runner's structured logger: JSON on stderr with the
// password (and the S3 secret key) removed from every record.
func NewLogger(cfg Config) *slog.Logger {
	r := newRedactor(secrets(cfg)...)
	return slog.New(r.Handler(slog.NewJSONHandler(os.Stderr, nil)))
}

func secrets(cfg Config) []string {
	return []string{cfg.DB.Password, cfg.Scratch.Password, os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")}
}

// New assembles a runner from parts already made (tests give their own
// store and engine).
func New(cfg Config, store storage.Store, eng engine.Engine, log *slog.Logger) *Runner {
	cfg = cfg.WithDefaults()
	red := newRedactor(secrets(cfg)...)
	return &Runner{
		cfg:    cfg,
		store:  store,
		eng:    eng,
		log:    slog.New(red.Handler(log.Handler())).With("operation_instance", cfg.Instance, "database", cfg.DB.Database, "engine", cfg.Engine),
		push:   &metrics.Pusher{URL: cfg.PushgatewayURL, Log: log},
		redact: red,
		now:    time.Now,
	}
}

// WithScratch gives a publish its scratch server's engine and the store
// that keeps its raw dumps (nil: none kept).
func (r *Runner) WithScratch(scratch engine.Engine, raw storage.Store) *Runner {
	r.scratch, r.raw = scratch, raw
	return r
}

// WithClock makes the runner read the time from now (tests pin dump keys).
func (r *Runner) WithClock(now func() time.Time) *Runner {
	r.now = now
	return r
}

// Open assembles a runner for operation op from its configuration: the
// engine named by DB_ENGINE among engines, the store named by BUCKET. When
// it fails, the caller reports the failure with ReportFailure.
func Open(ctx context.Context, op string, cfg Config, engines Engines, log *slog.Logger) (*Runner, error) {
	if err := CheckOperation(op); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	red := newRedactor(secrets(cfg)...)
	if err := cfg.refuseProduction(op); err != nil {
		return nil, err
	}
	if err := cfg.Validate(op); err != nil {
		return nil, err
	}
	if snapshot, ok := engines.Snapshot[cfg.Engine]; ok {
		search, err := snapshot(cfg, log)
		if err != nil {
			return nil, red.Err(err)
		}
		r := New(cfg, nil, nil, log)
		r.search = search
		return r, nil
	}
	factory, ok := engines.Streaming[cfg.Engine]
	if !ok {
		return nil, fmt.Errorf("DB_ENGINE %q is not supported: want one of %v", cfg.Engine, engines.Names())
	}
	dbCfg := cfg.DB
	dbCfg.Log = log
	eng, err := factory(dbCfg)
	if err != nil {
		return nil, red.Err(fmt.Errorf("DB_ENGINE %s: %w", cfg.Engine, err))
	}
	var scratch engine.Engine
	if op == OpPublish {
		if scratch, cfg, err = openScratch(cfg, factory, log); err != nil {
			return nil, red.Err(err)
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit(cfg))
	}
	var store, raw storage.Store
	if op != OpTransform {
		if store, err = storage.Open(ctx, cfg.Bucket, cfg.Upload); err != nil {
			return nil, red.Err(err)
		}
	}
	if op == OpPublish && cfg.RawBucket != "" {
		if raw, err = storage.Open(ctx, cfg.RawBucket, cfg.Upload); err != nil {
			return nil, red.Err(fmt.Errorf("RAW_BUCKET: %w", err))
		}
	}
	return New(cfg, store, eng, log).WithScratch(scratch, raw), nil
}

// ReportFailure reports operation op as failed (state 0) before it could
// start: bad settings, an engine or a store the runner cannot open. The
// series is the one the settings name (engine, instance, database,
// operation; a setting that is missing is an empty label), so that
// "operation failed" fires at once instead of "not completed" a day later.
// An unknown operation is never reported: it would make a series no run
// ever clears.
func ReportFailure(ctx context.Context, op string, cfg Config, err error, log *slog.Logger) {
	if CheckOperation(op) != nil {
		return
	}
	r := New(cfg, nil, nil, log)
	err = r.redact.Err(err)
	now := r.now()
	r.log.Error("operation failed before it started", "op", op, "error", err)
	r.push.Finished(ctx, r.labels(op), now, now, metrics.Result{Err: err})
	if r.alsoTransform(op) {
		r.push.Finished(ctx, r.labels(OpTransform), now, now, metrics.Result{Err: err})
	}
}

// memoryLimit is the Go heap the runner lets itself use: the upload's part
// buffers, the compressor's window and block buffers, and headroom for the
// SDK, HTTP and the collector's own pacing. The buffers stay live for the
// whole backup; without a limit the collector would let the heap grow to
// twice them. The resident set is this limit plus the binary's code
// (28 MiB measured), whatever the database's size: under 90 MiB by default.
func memoryLimit(cfg Config) int64 {
	return cfg.Upload.BufferBytes() + compress.EncoderBytes + 16<<20
}

// Run runs operation op (with its arguments) and reports it: logs, and
// metrics when PROMETHEUS_PUSHGATEWAY_URL is set. Every failure of a known
// operation, including a refusal, is reported as state 0. The error it
// returns carries no secret.
func (r *Runner) Run(ctx context.Context, op string, args []string) error {
	if err := CheckOperation(op); err != nil {
		return err
	}
	labels := r.labels(op)
	transformLabels := r.labels(OpTransform)
	alsoTransform := r.alsoTransform(op)

	start := r.now()
	r.log.Info("operation started", "op", op, "store", storeName(r.store), "environment", r.cfg.Environment, "version", Version)
	r.push.Started(ctx, labels, start)
	if alsoTransform {
		r.push.Started(ctx, transformLabels, start)
	}

	var res metrics.Result
	// The production guard comes before the script is read and anything is
	// opened: no download, no connection.
	err := r.cfg.refuseProduction(op)
	var script string
	if err == nil {
		script, err = r.script(op, args)
	}
	if err == nil && r.search != nil {
		res, err = r.snapshot(ctx, op)
	} else if err == nil {
		switch op {
		case OpBackup:
			res, err = r.backup(ctx)
		case OpRestore:
			res, err = r.restore(ctx, script)
		case OpTransform:
			err = r.transform(ctx, script)
		case OpPublish:
			res, err = r.publish(ctx, script)
		}
	}
	if err != nil && ctx.Err() != nil {
		// Stopped from outside (Kubernetes' SIGTERM at the deadline or an
		// eviction): that is the reason, whatever the child said on dying.
		err = fmt.Errorf("stopped (%v), cleaned up: %w", context.Cause(ctx), err)
	}
	err = r.redact.Err(err)
	res.Err = err
	end := r.now()
	r.push.Finished(ctx, labels, start, end, res)
	if alsoTransform {
		r.push.Finished(ctx, transformLabels, start, end, metrics.Result{Err: err})
	}
	if err != nil {
		r.log.Error("operation failed", "op", op, "seconds", end.Sub(start).Seconds(), "error", err)
		return fmt.Errorf("%s of %s/%s: %w", op, r.cfg.Instance, r.cfg.DB.Database, err)
	}
	r.log.Info("operation succeeded", "op", op, "seconds", end.Sub(start).Seconds(), "bytes", res.Size)
	return nil
}

// alsoTransform says whether op also reports a transform: a restore that
// sanitises, and a publish, do, so that the transform alerts and panels
// keep working.
func (r *Runner) alsoTransform(op string) bool {
	return (op == OpRestore || op == OpPublish) && r.cfg.SanitiseScript != ""
}

func (r *Runner) labels(op string) metrics.Labels {
	return metrics.Labels{Engine: r.cfg.Engine, Instance: r.cfg.Instance, Database: r.cfg.DB.Database, Operation: op, Pod: r.cfg.Pod}
}

// script reads the sanitise or transform script: the argument, else
// SANITISE_SCRIPT. A restore without one restores unsanitised; a transform
// without one is an error.
func (r *Runner) script(op string, args []string) (string, error) {
	path := r.cfg.SanitiseScript
	if op == OpTransform && len(args) > 0 {
		path = args[0]
	}
	if len(args) > 1 || (len(args) > 0 && op != OpTransform) {
		return "", fmt.Errorf("%s takes no argument besides an optional script for transform; got %q", op, args)
	}
	switch {
	case op == OpBackup:
		return "", nil
	case path == "" && op == OpPublish:
		return "", fmt.Errorf("publish needs SANITISE_SCRIPT: without one it would publish the live data as it is")
	case path == "" && op == OpTransform:
		return "", fmt.Errorf("transform needs a script: give its path as argument or in SANITISE_SCRIPT")
	case path == "":
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("SANITISE_SCRIPT: %w", err)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("SANITISE_SCRIPT %s is empty: an empty sanitise script is more likely a mistake than a wish", path)
	}
	return string(b), nil
}

func storeName(s storage.Store) string {
	if s == nil {
		return ""
	}
	return s.String()
}

// snapshot runs op on a search cluster: a backup is a snapshot into its
// repository, a restore loads the newest snapshot of the upstream one (or
// FILENAME's). The size reported is the snapshot's.
func (r *Runner) snapshot(ctx context.Context, op string) (metrics.Result, error) {
	var res engine.SnapshotResult
	var err error
	switch op {
	case OpBackup:
		res, err = r.search.Backup(ctx)
	case OpRestore:
		res, err = r.search.Restore(ctx, r.cfg.Filename)
	default:
		err = fmt.Errorf("DB_ENGINE %s has no %s", OpenSearch, op)
	}
	out := metrics.Result{Size: res.Size}
	if op == OpRestore {
		out.DumpTime = res.Taken
	}
	return out, err
}
