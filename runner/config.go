package runner

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/runner/engine"
	"github.com/envsync/envsync/runner/progress"
	"github.com/envsync/envsync/runner/storage"
)

// Config is one operation's settings, read from the runner environment of
// docs/contracts.md (flags may override all but the password).
type Config struct {
	Engine                      string // DB_ENGINE: postgres, mysql
	DB                          engine.Config
	Instance                    string // DB_INSTANCE: object key prefix and metric label; default DB_HOST
	Bucket                      string // BUCKET: s3://name or file:///path
	Environment                 string // ENVIRONMENT or GOVUK_ENVIRONMENT
	SanitiseScript              string // SANITISE_SCRIPT: path of a script
	Filename                    string // FILENAME: a key, file name or timestamp to restore
	ReallyRestoreOntoProduction bool   // REALLY_RESTORE_ONTO_PRODUCTION
	PushgatewayURL              string // PROMETHEUS_PUSHGATEWAY_URL
	// Classification (CLASSIFICATION) is the path of the sync's
	// classification, which a sanitising restore's personal-data gate
	// checks the sanitised shadow against.
	Classification string
	Pod            string // HOSTNAME: the instance label of metrics

	Upload           storage.S3Options // ENVSYNC_PART_SIZE_MIB, ENVSYNC_UPLOAD_CONCURRENCY
	CompressThreads  int               // ENVSYNC_COMPRESS_THREADS, default 1; 0: all cores
	LocalCopy        bool              // ENVSYNC_RESTORE_LOCAL_COPY: a restore checks the dump into a file under TMPDIR, then loads that file
	ProgressInterval time.Duration     // between progress lines
	// ShrinkFraction (ENVSYNC_SHRINK_FRACTION, default 0.5; 0: off): a
	// backup smaller than this fraction of the previous complete dump does
	// not move the pointer; AcceptShrunk (ENVSYNC_ACCEPT_SHRUNK_DUMP) moves
	// it anyway, for a rerun once an operator has looked.
	ShrinkFraction float64
	AcceptShrunk   bool
	// KeepDumps (ENVSYNC_KEEP_DUMPS, 0: keep every one) is how many of the
	// database's newest dumps a successful backup leaves; never the one the
	// pointer names nor a held one.
	KeepDumps int
	// KeepDays (ENVSYNC_KEEP_DAYS, 0: off) keeps, besides, every dump
	// younger than that many days.
	KeepDays int
	// NoRowCounts (ENVSYNC_COUNT_ROWS=false) records no row counts beside
	// a backup's dump.
	NoRowCounts bool
	// StallTimeout (ENVSYNC_STALL_TIMEOUT, default 5m) fails a restore's
	// download that receives nothing for that long, instead of letting it
	// hang until the job's deadline.
	StallTimeout time.Duration

	// A search cluster's (DB_ENGINE opensearch) snapshot repository:
	// SNAPSHOT_REPOSITORY (the backup's own; the upstream one a restore
	// reads) and SNAPSHOTS_KEEP (successful snapshots kept, default 1).
	SnapshotRepository string
	SnapshotsKeep      int
	// SearchAuth (SEARCH_AUTH) is "aws" when a search cluster's requests
	// are signed with AWS Signature Version 4.
	SearchAuth string

	// A publish's scratch server (a sidecar of the job's pod): where the
	// live dump is loaded and sanitised before its dump is published.
	// SCRATCH_HOST (default 127.0.0.1), SCRATCH_PORT (default the engine's
	// port), SCRATCH_USER; the password is read from SCRATCH_PASSWORD_FILE,
	// written when the pod starts, by Open.
	Scratch             engine.Config
	ScratchPasswordFile string
	// ScratchWait (ENVSYNC_SCRATCH_WAIT, default 5m) is how long a publish
	// waits for the scratch server to accept connections.
	ScratchWait time.Duration
	// RawBucket (RAW_BUCKET), when set, keeps the raw dump of a publish's
	// read of the live database: a locked-down bucket no restore reads.
	RawBucket string
	// DumpFormat (ENVSYNC_DUMP_FORMAT) is how backups are stored: zstd
	// (the default), or gzip, the formats the scripts envsync replaces
	// wrote and laptops read as they are. Restores read both.
	DumpFormat string
}

// Dump formats.
const (
	DumpFormatZstd = "zstd"
	DumpFormatGzip = "gzip"
)

// OpenSearch is the DB_ENGINE of search clusters (OpenSearch and
// Elasticsearch), which the runner copies through their snapshot
// repositories rather than through dumps in BUCKET.
const OpenSearch = "opensearch"

// DefaultShrinkFraction is ShrinkFraction when ENVSYNC_SHRINK_FRACTION is
// unset: a dump less than half the previous one holds the pointer.
const DefaultShrinkFraction = 0.5

// DefaultStallTimeout is StallTimeout when ENVSYNC_STALL_TIMEOUT is unset.
const DefaultStallTimeout = 5 * time.Minute

// DefaultScratchWait is ScratchWait when ENVSYNC_SCRATCH_WAIT is unset.
const DefaultScratchWait = 5 * time.Minute

// FromEnv reads the runner environment through getenv (os.Getenv).
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Engine: getenv("DB_ENGINE"),
		DB: engine.Config{
			Host:          getenv("DB_HOST"),
			User:          getenv("DB_USER"),
			Password:      getenv("DB_PASSWORD"),
			Database:      getenv("DB_DATABASE"),
			Owner:         getenv("DB_OWNER"),
			TLS:           engine.TLS{RootCert: getenv("DB_SSLROOTCERT")},
			AuthMechanism: getenv("DB_AUTH_MECHANISM"),
		},
		Instance:       getenv("DB_INSTANCE"),
		Bucket:         getenv("BUCKET"),
		Environment:    getenv("ENVIRONMENT"),
		SanitiseScript: getenv("SANITISE_SCRIPT"),
		Filename:       getenv("FILENAME"),
		PushgatewayURL: getenv("PROMETHEUS_PUSHGATEWAY_URL"),
		Classification: getenv("CLASSIFICATION"),
		Pod:            getenv("HOSTNAME"),

		SnapshotRepository: getenv("SNAPSHOT_REPOSITORY"),
		SnapshotsKeep:      1,

		Scratch:             engine.Config{Host: getenv("SCRATCH_HOST"), User: getenv("SCRATCH_USER")},
		ScratchPasswordFile: getenv("SCRATCH_PASSWORD_FILE"),
		ScratchWait:         DefaultScratchWait,
		RawBucket:           getenv("RAW_BUCKET"),
	}
	if c.Environment == "" {
		c.Environment = getenv("GOVUK_ENVIRONMENT")
	}
	c.DB.Holder = c.Pod
	// Every bad setting is reported at once, and the settings that parsed
	// stay in c: the caller still knows which series to report the failure to.
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var err error
	if c.DB.TLS.Mode, err = engine.ParseTLSMode(getenv("DB_SSLMODE")); err != nil {
		errs = append(errs, err)
	}
	if v := getenv("DB_PORT"); v != "" {
		if c.DB.Port, err = strconv.Atoi(v); err != nil || c.DB.Port <= 0 || c.DB.Port > 65535 {
			bad("DB_PORT %q is not a TCP port", v)
		}
	}
	if v := getenv("REALLY_RESTORE_ONTO_PRODUCTION"); v != "" {
		if c.ReallyRestoreOntoProduction, err = parseBool(v); err != nil {
			bad("REALLY_RESTORE_ONTO_PRODUCTION %q: want true or false", v)
		}
	}
	if v := getenv("ENVSYNC_PART_SIZE_MIB"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil || mib < 5 || mib > 5120 {
			bad("ENVSYNC_PART_SIZE_MIB %q: want a number of MiB from 5 to 5120", v)
		}
		c.Upload.PartSize = int64(mib) << 20
	}
	if v := getenv("ENVSYNC_UPLOAD_CONCURRENCY"); v != "" {
		if c.Upload.Concurrency, err = strconv.Atoi(v); err != nil || c.Upload.Concurrency < 1 {
			bad("ENVSYNC_UPLOAD_CONCURRENCY %q: want a positive number", v)
		}
	}
	if v := getenv("ENVSYNC_RESTORE_LOCAL_COPY"); v != "" {
		if c.LocalCopy, err = parseBool(v); err != nil {
			bad("ENVSYNC_RESTORE_LOCAL_COPY %q: want true or false", v)
		}
	}
	c.StallTimeout = DefaultStallTimeout
	if v := getenv("ENVSYNC_STALL_TIMEOUT"); v != "" {
		if c.StallTimeout, err = time.ParseDuration(v); err != nil || c.StallTimeout <= 0 {
			bad("ENVSYNC_STALL_TIMEOUT %q: want a duration such as 5m", v)
		}
	}
	switch c.SearchAuth = getenv("SEARCH_AUTH"); c.SearchAuth {
	case "", "aws":
	default:
		bad("SEARCH_AUTH %q: want aws, or nothing (basic auth from DB_USER and DB_PASSWORD when set)", c.SearchAuth)
	}
	if v := getenv("SNAPSHOTS_KEEP"); v != "" {
		if c.SnapshotsKeep, err = strconv.Atoi(v); err != nil || c.SnapshotsKeep < 1 {
			bad("SNAPSHOTS_KEEP %q: want a number of snapshots, at least 1", v)
		}
	}
	if v := getenv("ENVSYNC_POSTGRES_LOAD_SESSIONS"); v != "" {
		if c.DB.LoadSessions, err = strconv.Atoi(v); err != nil || c.DB.LoadSessions < 0 || c.DB.LoadSessions > engine.MaxLoadSessions {
			bad("ENVSYNC_POSTGRES_LOAD_SESSIONS %q: want a number of sessions from 0 to %d", v, engine.MaxLoadSessions)
		}
	}
	if v := getenv("ENVSYNC_MYSQL_LOAD_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 64 {
			bad("ENVSYNC_MYSQL_LOAD_WORKERS %q: want a number of connections from 0 (every row through the mysql client) to 64", v)
		}
		c.DB.LoadWorkers = n
		if n == 0 {
			c.DB.LoadWorkers = -1
		}
	}
	if v := getenv("SCRATCH_PORT"); v != "" {
		if c.Scratch.Port, err = strconv.Atoi(v); err != nil || c.Scratch.Port <= 0 || c.Scratch.Port > 65535 {
			bad("SCRATCH_PORT %q is not a TCP port", v)
		}
	}
	c.DumpFormat = DumpFormatZstd
	switch v := getenv("ENVSYNC_DUMP_FORMAT"); v {
	case "", DumpFormatZstd:
	case DumpFormatGzip:
		c.DumpFormat = v
	default:
		bad("ENVSYNC_DUMP_FORMAT %q: want zstd or gzip", v)
	}
	if v := getenv("ENVSYNC_SCRATCH_WAIT"); v != "" {
		if c.ScratchWait, err = time.ParseDuration(v); err != nil || c.ScratchWait <= 0 {
			bad("ENVSYNC_SCRATCH_WAIT %q: want a duration such as 5m", v)
		}
	}
	c.ShrinkFraction = DefaultShrinkFraction
	if v := getenv("ENVSYNC_SHRINK_FRACTION"); v != "" {
		if c.ShrinkFraction, err = strconv.ParseFloat(v, 64); err != nil || c.ShrinkFraction < 0 || c.ShrinkFraction >= 1 {
			bad("ENVSYNC_SHRINK_FRACTION %q: want a fraction from 0 (off) to below 1, such as 0.5", v)
		}
	}
	if v := getenv("ENVSYNC_KEEP_DUMPS"); v != "" {
		if c.KeepDumps, err = strconv.Atoi(v); err != nil || c.KeepDumps == 1 || c.KeepDumps < 0 {
			bad("ENVSYNC_KEEP_DUMPS %q: want 0 (keep every dump) or at least 2", v)
		}
	}
	if v := getenv("ENVSYNC_COUNT_ROWS"); v != "" {
		count, err := parseBool(v)
		if err != nil {
			bad("ENVSYNC_COUNT_ROWS %q: want true or false", v)
		}
		c.NoRowCounts = !count
	}
	if v := getenv("ENVSYNC_KEEP_DAYS"); v != "" {
		if c.KeepDays, err = strconv.Atoi(v); err != nil || c.KeepDays < 0 {
			bad("ENVSYNC_KEEP_DAYS %q: want 0 (off) or a number of days", v)
		}
	}
	if v := getenv("ENVSYNC_ACCEPT_SHRUNK_DUMP"); v != "" {
		if c.AcceptShrunk, err = parseBool(v); err != nil {
			bad("ENVSYNC_ACCEPT_SHRUNK_DUMP %q: want true or false", v)
		}
	}
	c.CompressThreads = 1
	if v := getenv("ENVSYNC_COMPRESS_THREADS"); v != "" {
		if c.CompressThreads, err = strconv.Atoi(v); err != nil || c.CompressThreads < 0 {
			bad("ENVSYNC_COMPRESS_THREADS %q: want a number of threads", v)
		}
	}
	return c, errors.Join(errs...)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "y", "on":
		return true, nil
	case "no", "n", "off":
		return false, nil
	}
	return strconv.ParseBool(v)
}

// WithDefaults fills what the environment may leave out: the owner role from
// the database name, the instance from the host.
func (c Config) WithDefaults() Config {
	if c.DB.Owner == "" && c.Engine != OpenSearch {
		c.DB.Owner = DefaultOwner(c.DB.Database)
	}
	if c.Instance == "" {
		c.Instance = c.DB.Host
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = progress.DefaultInterval
	}
	if c.Scratch.Host == "" {
		c.Scratch.Host = "127.0.0.1"
	}
	if e, ok := contract.EngineNamed(c.Engine); ok && c.Scratch.Port == 0 {
		c.Scratch.Port = e.DefaultPort
	}
	if c.ScratchWait == 0 {
		c.ScratchWait = DefaultScratchWait
	}
	return c
}

// DefaultOwner derives the owner role from a database name the way the old
// scripts did (contract.DefaultOwner, which the generator applies too).
func DefaultOwner(database string) string { return contract.DefaultOwner(database) }

// Validate names every missing or wrong setting for operation op.
func (c Config) Validate(op string) error {
	var errs []error
	need := []struct{ name, value string }{
		{"DB_ENGINE", c.Engine}, {"DB_HOST", c.DB.Host}, {"DB_DATABASE", c.DB.Database},
	}
	switch {
	case c.Engine == OpenSearch && op == OpTransform:
		errs = append(errs, fmt.Errorf("DB_ENGINE %s has no transform: a search cluster is copied by snapshots only", OpenSearch))
	case c.Engine == OpenSearch && c.SanitiseScript != "":
		errs = append(errs, fmt.Errorf("DB_ENGINE %s has no sanitise script: SANITISE_SCRIPT must not be set", OpenSearch))
	case c.Engine == OpenSearch:
		need = append(need, struct{ name, value string }{"SNAPSHOT_REPOSITORY", c.SnapshotRepository})
	case op != OpTransform:
		need = append(need, struct{ name, value string }{"BUCKET", c.Bucket})
	}
	if op == OpPublish {
		need = append(need,
			struct{ name, value string }{"SANITISE_SCRIPT", c.SanitiseScript},
			struct{ name, value string }{"SCRATCH_USER", c.Scratch.User},
			struct{ name, value string }{"SCRATCH_PASSWORD_FILE", c.ScratchPasswordFile})
		if e, ok := contract.EngineNamed(c.Engine); ok && !e.Scripts {
			errs = append(errs, fmt.Errorf("DB_ENGINE %s has no publish: it runs no sanitise script", c.Engine))
		}
		if c.RawBucket != "" && c.RawBucket == c.Bucket {
			errs = append(errs, fmt.Errorf("RAW_BUCKET is BUCKET (%s): the raw dump would be published", c.Bucket))
		}
	}
	for _, n := range need {
		if strings.TrimSpace(n.value) == "" {
			errs = append(errs, fmt.Errorf("%s is not set (needed by %s)", n.name, op))
		}
	}
	if op == OpRestore && c.DB.Owner == "" && c.DB.Database != "" && c.Engine != OpenSearch {
		errs = append(errs, fmt.Errorf("DB_OWNER is not set and cannot be derived from DB_DATABASE %q", c.DB.Database))
	}
	if err := c.DB.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if strings.Contains(c.DB.Database, "/") && c.Engine != OpenSearch {
		errs = append(errs, fmt.Errorf("DB_DATABASE %q: a '/' cannot be held by the object layout <instance>/<time>-<database>.<ext>", c.DB.Database))
	}
	if strings.ContainsAny(c.Instance, "/") || (c.Instance == "" && c.DB.Host != "") {
		errs = append(errs, fmt.Errorf("DB_INSTANCE %q: want a name without '/' (default DB_HOST)", c.Instance))
	}
	return errors.Join(errs...)
}

// IsProduction says whether an environment's name means production: the
// rule vet and the generator apply too (contract.IsProduction). An empty
// name is not decided here: a restore or transform without ENVIRONMENT is
// refused by refuseProduction.
func IsProduction(environment string) bool { return contract.IsProduction(environment) }

// refuseProduction stops a restore or transform into production unless
// REALLY_RESTORE_ONTO_PRODUCTION says so: overwriting or sanitising
// production data is never what a misconfigured CronJob should do. It fails
// closed: a restore or transform that does not say where it runs is refused.
func (c Config) refuseProduction(op string) error {
	if op != OpRestore && op != OpTransform {
		return nil
	}
	if strings.TrimSpace(c.Environment) == "" {
		return fmt.Errorf("refusing to %s: ENVIRONMENT (or GOVUK_ENVIRONMENT) is not set, so the runner cannot tell whether this is production", op)
	}
	if IsProduction(c.Environment) && !c.ReallyRestoreOntoProduction {
		return fmt.Errorf("refusing to %s into environment %q: its name says production; set REALLY_RESTORE_ONTO_PRODUCTION=true if you mean it", op, c.Environment)
	}
	return nil
}

// CheckOperation refuses an operation the runner does not know.
func CheckOperation(op string) error {
	if op == OpBackup || op == OpRestore || op == OpTransform || op == OpPublish {
		return nil
	}
	return fmt.Errorf("unknown operation %q: want backup, restore, transform or publish", op)
}
