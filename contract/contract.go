// Package contract holds the rules that the declaration's checks, the
// generator and the runner must agree on, in one place and without
// dependencies: a rule written twice drifts (vet passed an environment
// named "eks-live" whose every restore the runner then refused).
package contract

import (
	"strings"
	"unicode"
)

// IsProduction says whether an environment's name means production, where
// a restore or transform needs an explicit opt-in (allowProductionRestore
// in the declaration, REALLY_RESTORE_ONTO_PRODUCTION for the runner).
//
// Its words are its runs of letters, so that "eu-prd01" has "prd" and
// "delivery" has no "live": a word containing "prod" (production, preprod,
// prod2), or one that is "prd" or "live", means production. It fails
// closed: a name with anything but ASCII letters, digits and separators
// (a full-width or zero-width-joined "prod") cannot be read with certainty
// and counts as production.
func IsProduction(environment string) bool {
	for _, r := range environment {
		if r > unicode.MaxASCII || unicode.IsControl(r) {
			return true
		}
	}
	words := strings.FieldsFunc(strings.ToLower(environment), func(r rune) bool { return r < 'a' || r > 'z' })
	for _, w := range words {
		if strings.Contains(w, "prod") || w == "prd" || w == "live" {
			return true
		}
	}
	return false
}

// DatabaseShortName is a database's name in the names of the containers of
// a sync over several databases ("0-restore-govuk-assets"): without
// "_production", "_" turned into "-", lower case. Two databases of one sync
// must not share it.
func DatabaseShortName(db string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSuffix(db, "_production"), "_", "-"))
}

// DefaultOwner is the role that owns a restored database when none is
// declared, the way the old scripts derived it: the name without
// "_production" and without a leading "draft-"/"draft_", with "-" turned
// into "_" ("draft-content-store_production" is owned by "content_store").
func DefaultOwner(database string) string {
	s := strings.TrimSuffix(database, "_production")
	s = strings.TrimPrefix(s, "draft-")
	s = strings.TrimPrefix(s, "draft_")
	return strings.ReplaceAll(s, "-", "_")
}

// MaxCronJobName is the longest CronJob name Kubernetes accepts: the Job
// controller appends an 11-character suffix to a 63-character label value.
const MaxCronJobName = 52

// Kind is how an engine's data travels.
type Kind int

const (
	// Streaming: a dump passes through the runner, to and from a bucket.
	Streaming Kind = iota
	// Snapshot: the cluster writes and reads its own snapshot repository.
	Snapshot
)

// Engine is what the declaration, the generator and the runner know of an
// engine, by its DB_ENGINE name.
type Engine struct {
	Name        string
	Kind        Kind
	DefaultPort int // when a sync names none; 0 for an endpoint URL
	// Scripts says whether a sync may sanitise or transform with a script.
	Scripts bool
	// Gate says whether a sanitising restore can prove its work with the
	// personal-data gate (a classification).
	Gate bool
	// Scratch is how a publish's scratch server of this engine runs from
	// its image; nil for an engine that cannot publish.
	Scratch *ScratchServer
}

// ScratchServer is how the official image of an engine's server runs as a
// throwaway scratch server beside the runner: the user its entrypoint
// creates (named by UserVariable, unless fixed), the variable naming the
// file it reads that user's password from, where it keeps its data
// (DataDirVariable, when the image reads it), the other directories it
// writes besides /tmp (the pod's), and the arguments that make it fast and private: loopback only,
// nothing made durable.
type ScratchServer struct {
	User                 string
	UserVariable         string
	PasswordFileVariable string
	DataDir              string
	DataDirVariable      string
	RunDirs              []string
	Args                 []string
}

// Engines are the engines envsync knows, in the order messages list them.
// The runner's implementations are named in runner/engines.
var Engines = []Engine{
	{Name: "postgres", Kind: Streaming, DefaultPort: 5432, Scripts: true, Gate: true, Scratch: &ScratchServer{
		User: "envsync", UserVariable: "POSTGRES_USER", PasswordFileVariable: "POSTGRES_PASSWORD_FILE",
		DataDir: "/var/lib/postgresql/data", DataDirVariable: "PGDATA", RunDirs: []string{"/var/run/postgresql"},
		Args: []string{"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "wal_level=minimal", "-c", "max_wal_senders=0", "-c", "maintenance_work_mem=256MB"},
	}},
	{Name: "mysql", Kind: Streaming, DefaultPort: 3306, Scripts: true, Gate: true, Scratch: &ScratchServer{
		User: "root", PasswordFileVariable: "MARIADB_ROOT_PASSWORD_FILE",
		DataDir: "/var/lib/mysql", RunDirs: []string{"/run/mysqld"},
		Args: []string{"--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-log-bin",
			"--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--innodb-buffer-pool-size=256M"},
	}},
	{Name: "mongo", Kind: Streaming, DefaultPort: 27017, Scripts: true, Gate: true, Scratch: &ScratchServer{
		User: "envsync", UserVariable: "MONGO_INITDB_ROOT_USERNAME", PasswordFileVariable: "MONGO_INITDB_ROOT_PASSWORD_FILE",
		DataDir: "/data/db", RunDirs: []string{"/data/configdb"},
		Args: []string{"--bind_ip", "127.0.0.1", "--wiredTigerCacheSizeGB", "0.25"},
	}},
	{Name: "opensearch", Kind: Snapshot},
}

// EngineNamed finds an engine by name.
func EngineNamed(name string) (Engine, bool) {
	for _, e := range Engines {
		if e.Name == name {
			return e, true
		}
	}
	return Engine{}, false
}

// EngineNames lists the engines' names, as "a, b, c or d".
func EngineNames() string {
	var names []string
	for _, e := range Engines {
		names = append(names, e.Name)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Variable is one variable of the runner's environment.
type Variable struct {
	Name string
	// Tuning variables are the runner's knobs, which a sync's extra env may
	// set; the others are the contract the generator fills in, which extra
	// env may not override.
	Tuning bool
	// Flag, when set, is the `envsync run` flag that overrides the
	// variable (Switch: a flag given without a value means true).
	Flag   string
	Switch bool
	// Doc is what `envsync run --help` says of it.
	Doc string
}

// Variables are the runner's environment: the generator sets the contract
// ones on every container, the importer keeps a values file's extra env
// from overriding them, and `envsync run` makes its flags and its help of
// them. The runner parses each once (runner.FromEnv); a flag only stands in
// for its variable.
var Variables = []Variable{
	{Name: "DB_ENGINE", Flag: "engine", Doc: "the engine: " + EngineNames()},
	{Name: "DB_HOST", Flag: "host", Doc: "the database host; a search cluster's URL"},
	{Name: "DB_PORT", Flag: "port", Doc: "the database port (default the engine's)"},
	{Name: "DB_USER", Flag: "user", Doc: "the database user"},
	{Name: "DB_PASSWORD", Doc: "the password: from the environment only, never a flag (arguments are visible to every process)"},
	{Name: "DB_DATABASE", Flag: "database", Doc: "the live database or schema; a search sync's index pattern"},
	{Name: "DB_OWNER", Flag: "owner", Doc: "the role that owns a restored database (default from the database name)"},
	{Name: "DB_INSTANCE", Flag: "instance", Doc: "the instance name in object keys and metrics (default the host)"},
	{Name: "DB_SSLMODE", Flag: "sslmode", Doc: "how every database session uses TLS, with libpq's meanings: disable, prefer (default: TLS when offered), require, verify-ca, verify-full (these two need DB_SSLROOTCERT)"},
	{Name: "DB_SSLROOTCERT", Flag: "sslrootcert", Doc: "the PEM CA bundle a server's certificate is checked against"},
	{Name: "DB_AUTH_MECHANISM", Tuning: true, Doc: "Mongo's authentication mechanism (default the driver's)"},
	{Name: "BUCKET", Flag: "bucket", Doc: "where dumps are stored: s3://name or file:///path (S3 is configured by the AWS SDK's environment: AWS_REGION, AWS_ENDPOINT_URL_S3, keys or a web identity token)"},
	{Name: "ENVIRONMENT", Flag: "environment", Doc: "the environment's name"},
	{Name: "GOVUK_ENVIRONMENT", Doc: "the environment's name, when ENVIRONMENT is not set (the old chart's)"},
	{Name: "SANITISE_SCRIPT", Flag: "sanitise-script", Doc: "the script run on the restored shadow before the swap, or by a transform on live"},
	{Name: "FILENAME", Flag: "filename", Doc: "restore this key, file name or timestamp instead of the latest"},
	{Name: "REALLY_RESTORE_ONTO_PRODUCTION", Flag: "really-restore-onto-production", Switch: true, Doc: "allow a restore or transform in an environment whose name says production"},
	{Name: "PROMETHEUS_PUSHGATEWAY_URL", Flag: "pushgateway-url", Doc: "the Prometheus Pushgateway every outcome is pushed to"},
	{Name: "CLASSIFICATION", Doc: "the sync's classification (JSON) for the personal-data gate of a sanitising step"},
	{Name: "SEARCH_AUTH", Doc: "aws: a search cluster's requests are signed with AWS Signature Version 4 and the pod's credentials (the AWS SDK's: a web identity, AWS_REGION); unset: basic auth from DB_USER and DB_PASSWORD when set, else none"},
	{Name: "SNAPSHOT_REPOSITORY", Doc: "a search sync's snapshot repository: the one a backup writes or a restore reads"},
	{Name: "SNAPSHOTS_KEEP", Doc: "the successful snapshots a search backup leaves (1)"},
	{Name: "ENVSYNC_PART_SIZE_MIB", Tuning: true, Doc: "the upload's part size in MiB (8: dumps up to 78 GiB compressed)"},
	{Name: "ENVSYNC_UPLOAD_CONCURRENCY", Tuning: true, Doc: "parts uploaded at once (2)"},
	{Name: "ENVSYNC_COMPRESS_THREADS", Tuning: true, Doc: "compression threads (1; 0: all cores)"},
	{Name: "ENVSYNC_RESTORE_LOCAL_COPY", Tuning: true, Doc: "false (default): a restore streams the dump in one pass; true: it first checks it into a file under TMPDIR, then restores that with pg_restore --jobs"},
	{Name: "ENVSYNC_POSTGRES_LOAD_SESSIONS", Tuning: true, Doc: "0 (default): pg_restore loads the shadow on one session; N: each table's rows spread over N sessions"},
	{Name: "ENVSYNC_MYSQL_LOAD_WORKERS", Tuning: true, Doc: "connections loading rows into the MySQL shadow (0: every row through the mysql client)"},
	{Name: "ENVSYNC_STALL_TIMEOUT", Tuning: true, Doc: "a restore's download that receives nothing for this long fails instead of hanging (5m)"},
	{Name: "ENVSYNC_SHRINK_FRACTION", Tuning: true, Doc: "a backup smaller than this fraction of the previous complete dump does not move the pointer (0.5; 0: off)"},
	{Name: "ENVSYNC_ACCEPT_SHRUNK_DUMP", Tuning: true, Doc: "true on a rerun moves the pointer to a dump that shrank"},
	{Name: "ENVSYNC_KEEP_DUMPS", Tuning: true, Doc: "0 (default): keep every dump; N >= 2: a successful backup removes the dumps beyond the newest N (and ENVSYNC_KEEP_DAYS), never the pointer's, a held or a pinned one"},
	{Name: "ENVSYNC_KEEP_DAYS", Tuning: true, Doc: "0 (default): off; D: a successful backup keeps every dump younger than D days, removing older ones beyond the newest 2 (and ENVSYNC_KEEP_DUMPS)"},
	{Name: "SCRATCH_HOST", Doc: "a publish's scratch server (default 127.0.0.1)"},
	{Name: "SCRATCH_PORT", Doc: "the scratch server's port (default the engine's)"},
	{Name: "SCRATCH_USER", Doc: "the scratch server's user"},
	{Name: "SCRATCH_PASSWORD_FILE", Doc: "the file holding the scratch server's password"},
	{Name: "RAW_BUCKET", Doc: "where a publish keeps the raw dump of the same read, when set"},
	{Name: "ENVSYNC_COUNT_ROWS", Tuning: true, Doc: "true (default): a backup counts each table's rows in its dump as it streams by and stores them beside it, and a restore holds the loaded copy to them; false: no counts"},
	{Name: "ENVSYNC_SCRATCH_WAIT", Tuning: true, Doc: "how long a publish waits for its scratch server (5m)"},
	{Name: "ENVSYNC_DUMP_FORMAT", Doc: "the dumps' format: zstd (default) or gzip (what pg_restore, mysql and mongorestore read on a laptop)"},
}

// Pod is the variable Kubernetes sets to the pod's name, which the runner
// reads as the instance label of its metrics; not the generator's to set.
var Pod = Variable{Name: "HOSTNAME", Flag: "pod", Doc: "the pod's name: the instance label of metrics (set by Kubernetes)"}

// Reserved says whether name is a variable of the runner's contract, which
// a sync's extra env may not set.
func Reserved(name string) bool {
	for _, v := range Variables {
		if v.Name == name {
			return !v.Tuning
		}
	}
	return false
}

// The metrics every operation pushes to the Pushgateway, under job
// MetricsJob, grouped by the four labels engine, instance, database and
// operation (and state, for the per-state series); the pod is the instance
// label. The dashboards and alerts of the estates envsync replaces read
// these names: they stay.
const (
	MetricsJob = "db-backup"

	MetricState     = "db_backup_job_state"                       // 0 failed, 1 running, 2 succeeded
	MetricTimestamp = "db_backup_job_status_timestamp_seconds"    // when the operation reached {state}
	MetricDuration  = "db_backup_job_duration_seconds"            // how long the run that ended in {state} took
	MetricFileSize  = "db_backup_job_file_size_bytes"             // size of the dump written or read
	MetricRestored  = "db_backup_restored_dump_timestamp_seconds" // when the dump a restore loaded was taken
	// The personal-data gate of a sanitising step: columns it checked, and
	// personal-looking values its detectors found (pushed on success and on
	// failure, so that a failing gate shows what it found).
	MetricGateChecked  = "db_backup_gate_columns_checked"
	MetricGateFindings = "db_backup_gate_findings"

	LabelEngine    = "database_engine"
	LabelInstance  = "database_instance"
	LabelDatabase  = "database_db_name"
	LabelOperation = "operation"
	LabelPod       = "instance"
	LabelState     = "state"

	StateFailed    = 0
	StateRunning   = 1
	StateSucceeded = 2
)

// Classes of a column in a classification.
const (
	Personal = "personal"
	Public   = "public"
)

// Classification is the file the generator writes beside a sync's scripts
// and a sanitising restore's personal-data gate reads (CLASSIFICATION).
type Classification struct {
	// Sync and Declared name the declaration, for errors: the file a user
	// edits to classify a new column.
	Sync     string `json:"sync"`
	Declared string `json:"declared"`
	// Tables: table -> column -> Personal or Public. A table is named as
	// the engine lists it (PostgreSQL: "table" in public, else
	// "schema.table").
	Tables map[string]map[string]string `json:"tables"`
	// AllowedEmailDomains are domains whose addresses are not personal (the
	// script's pseudonyms); example.com, .org, .net and .invalid always are.
	AllowedEmailDomains []string `json:"allowedEmailDomains,omitempty"`
	// MaxFindings is how many detector findings a column may hold (0).
	MaxFindings int `json:"maxFindings,omitempty"`
	// SampleRows bounds the rows of each text column the detectors read
	// (0: the gate's default).
	SampleRows int `json:"sampleRows,omitempty"`
}

// ClassificationFile is the key of a sync's classification in the scripts
// ConfigMap.
func ClassificationFile(sync string) string { return sync + ".classification.json" }
