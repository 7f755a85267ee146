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
}

// Variables are the runner's environment: the generator sets the contract
// ones on every container, the importer keeps a values file's extra env
// from overriding them, and `envsync run --help` lists them.
var Variables = []Variable{
	{Name: "DB_ENGINE"}, {Name: "DB_HOST"}, {Name: "DB_PORT"}, {Name: "DB_USER"}, {Name: "DB_PASSWORD"},
	{Name: "DB_DATABASE"}, {Name: "DB_OWNER"}, {Name: "DB_INSTANCE"}, {Name: "DB_SSLMODE"}, {Name: "DB_SSLROOTCERT"},
	{Name: "DB_AUTH_MECHANISM", Tuning: true},
	{Name: "BUCKET"}, {Name: "ENVIRONMENT"}, {Name: "GOVUK_ENVIRONMENT"}, {Name: "SANITISE_SCRIPT"}, {Name: "FILENAME"},
	{Name: "REALLY_RESTORE_ONTO_PRODUCTION"}, {Name: "PROMETHEUS_PUSHGATEWAY_URL"}, {Name: "CLASSIFICATION"},
	{Name: "SNAPSHOT_REPOSITORY"}, {Name: "SNAPSHOTS_KEEP"},
	{Name: "ENVSYNC_PART_SIZE_MIB", Tuning: true}, {Name: "ENVSYNC_UPLOAD_CONCURRENCY", Tuning: true},
	{Name: "ENVSYNC_COMPRESS_THREADS", Tuning: true}, {Name: "ENVSYNC_RESTORE_LOCAL_COPY", Tuning: true},
	{Name: "ENVSYNC_POSTGRES_LOAD_SESSIONS", Tuning: true}, {Name: "ENVSYNC_MYSQL_LOAD_WORKERS", Tuning: true},
	{Name: "ENVSYNC_STALL_TIMEOUT", Tuning: true},
	{Name: "ENVSYNC_SHRINK_FRACTION", Tuning: true}, {Name: "ENVSYNC_ACCEPT_SHRUNK_DUMP", Tuning: true},
	{Name: "ENVSYNC_KEEP_DUMPS", Tuning: true},
	{Name: "SCRATCH_HOST"}, {Name: "SCRATCH_PORT"}, {Name: "SCRATCH_USER"}, {Name: "SCRATCH_PASSWORD_FILE"},
	{Name: "RAW_BUCKET"}, {Name: "ENVSYNC_SCRATCH_WAIT", Tuning: true}, {Name: "ENVSYNC_DUMP_FORMAT"},
}

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
