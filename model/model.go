// Package model is the validated estate: what the CUE declarations say, with
// every default resolved, in the shape the generators and the local runner
// read. It holds data only; loading lives in package declare, checks in
// package check.
package model

import (
	"slices"
	"strings"
	"time"
)

// Operation is one step of a job. Its order in a job is fixed:
// restore, then transform, then backup or publish.
type Operation string

const (
	Restore   Operation = "restore"
	Transform Operation = "transform"
	Backup    Operation = "backup"
	// Publish is a sanitised backup: the live dump loaded into a scratch
	// server in the job's pod, the job's script run there, the result
	// stored.
	Publish Operation = "publish"
)

// Operations lists every operation in the order a job runs them.
var Operations = []Operation{Restore, Transform, Backup, Publish}

// InOrder reports whether ops each appear once, in the order a job runs
// them.
func InOrder(ops []Operation) bool {
	last := -1
	for _, o := range ops {
		i := slices.Index(Operations, o)
		if i <= last {
			return false
		}
		last = i
	}
	return true
}

// Engine is a database engine the runner knows.
type Engine string

const (
	Postgres Engine = "postgres"
	MySQL    Engine = "mysql"
	Mongo    Engine = "mongo"
	// OpenSearch is a search cluster (OpenSearch or Elasticsearch), copied
	// through its snapshot repository; its "database" is the pattern of
	// the indices copied ("*": every index but the system ones).
	OpenSearch Engine = "opensearch"
)

// Ensure says whether a job exists and runs.
type Ensure string

const (
	Present  Ensure = "present"  // the CronJob exists and runs (unless suspended)
	Disabled Ensure = "disabled" // the CronJob exists, suspended
	Absent   Ensure = "absent"   // no CronJob is emitted
)

// Estate is one whole declaration: environments, the flow between them, the
// alerting policy and every sync.
type Estate struct {
	// Root is the directory holding cue.mod; script paths are relative to it.
	Root         string
	Image        string        // runner container image
	Pushgateway  string        // PROMETHEUS_PUSHGATEWAY_URL given to every job
	Environments []Environment // in declaration order
	Classes      []Class       // sorted by name
	Tiers        []Tier        // sorted by name
	Alerting     Alerting
	Syncs        []Sync // sorted by name
	// Scripts are the sanitise scripts the jobs name, by their path as
	// declared, read when the estate is loaded: generation reads no file.
	Scripts map[string]Script
	// ScratchImages are the scratch servers' images of publish operations,
	// by engine.
	ScratchImages map[Engine]string
}

// Script is one sanitise script as loaded: its content, or why it could
// not be used (a path outside the repository, a symbolic link, missing).
type Script struct {
	Content string
	Problem string
}

// Environment is one place data lives: production, staging, integration.
type Environment struct {
	Name      string
	Bucket    string // s3://name or file:///path
	Namespace string // Kubernetes namespace of its CronJobs
	// Sanitise is true when data landing here must have personal data removed.
	Sanitise bool
	// PublishSanitised: a sync with personal data is published here
	// (operation publish) rather than backed up raw into Bucket.
	PublishSanitised bool
	// RawBucket keeps a publish's raw dump; empty: none kept.
	RawBucket string
	// SanitisedOnly: this environment's databases never hold raw data, not
	// even in a restore's shadow.
	SanitisedOnly bool
	// DumpFormat is how its backups are stored: "zstd" or "gzip".
	DumpFormat string
	// KeepDumps and KeepDays are its retention: the newest KeepDumps and
	// those younger than KeepDays days stay (0: that rule is off; both 0:
	// every dump stays).
	KeepDumps, KeepDays int
	// BucketExpiryDays is the bucket's lifecycle expiry; 0: none declared.
	BucketExpiryDays int
	// TransformLimit is the "transform taking a long time" threshold.
	TransformLimit time.Duration
	// RestoreFrom is the upstream environment this one restores from by
	// default (the flow); empty for an environment that only backs up.
	RestoreFrom string
	// Class is the default schedule class of jobs in this environment.
	Class string
	// UndeclaredClass overrides Alerting.Undeclared's class here.
	UndeclaredClass string
	// TLS is its jobs' default TLS settings.
	TLS TLS
	// GrafanaURL is the base URL of this environment's Grafana, where its
	// alerts' dashboard links point; empty: Alerting.DashboardURL.
	GrafanaURL string
	// GrafanaDatasource is the name of its Prometheus data source there.
	GrafanaDatasource string
	// Monitoring is where its PrometheusRule and dashboard ConfigMap go:
	// the estate's, overridden by the environment's.
	Monitoring Monitoring
	// ServiceAccount is what its jobs run as; nil: the namespace's default.
	ServiceAccount *ServiceAccount
	// Suspend pauses every job of the environment (resolved into each
	// job's Suspend), until Suspension's date when it has one.
	Suspend    bool
	Suspension Suspension
	// PodAnnotations are added to every job's pod.
	PodAnnotations map[string]string
	// JobNamePrefix starts the name of every CronJob of the environment.
	JobNamePrefix string
	// DNS is every job pod's DNS configuration; nil: the cluster's.
	DNS *DNS
	// ExternalSecrets, when not nil, has envsync emit the ExternalSecret
	// filling each Secret the environment's jobs read.
	ExternalSecrets *ExternalSecrets
}

// KeepsRaw says whether a backup of s in env is raw data kept apart, in
// env's RawBucket: env publishes sanitised dumps and s holds personal data
// (a search sync's snapshots stay in its cluster's repository).
func (env Environment) KeepsRaw(s *Sync) bool {
	return env.PublishSanitised && !s.NoPersonalData && s.Engine != OpenSearch
}

// CronJobName is the name of the CronJob of sync in env.
func (env Environment) CronJobName(sync string) string { return env.JobNamePrefix + sync }

// DNS is a pod's DNS configuration.
type DNS struct {
	Nameservers []string
	Searches    []string
	Options     map[string]string // name -> value; "" for a flag
}

// ExternalSecrets says where the estate's secret store keeps database
// credentials (external-secrets.io).
type ExternalSecrets struct {
	StoreName, StoreKind string
	// RemoteKey is the key of a sync's credentials in the store, with
	// "{instance}" and "{secret}" to replace.
	RemoteKey                          string
	UsernameProperty, PasswordProperty string
	RefreshInterval                    time.Duration
}

// ServiceAccount is the Kubernetes ServiceAccount of an environment's jobs,
// which carries their cloud credentials (EKS IRSA's role-arn annotation).
type ServiceAccount struct {
	Name        string
	Create      bool // emitted by envsync, else owned by the cluster
	Annotations map[string]string
}

// Monitoring places the monitoring objects of one environment.
type Monitoring struct {
	RuleNamespace      string // default: the environment's namespace
	RuleLabels         map[string]string
	DashboardNamespace string // default: the environment's namespace
	DashboardLabels    map[string]string
}

// LabelPrefix starts the label keys of every object envsync emits.
const LabelPrefix = "envsync.io/"

// LabelEnvironment labels every emitted object with its environment.
const LabelEnvironment = LabelPrefix + "environment"

// TLS is how a job's database sessions use TLS: DB_SSLMODE and, from CA,
// DB_SSLROOTCERT.
type TLS struct {
	Mode string // disable, prefer, require, verify-ca, verify-full
	CA   *CA    // nil: no bundle
}

// CA is where a CA bundle is mounted from: a ConfigMap or a Secret of the
// job's namespace (exactly one of them), and its key.
type CA struct {
	ConfigMap string
	Secret    string
	Key       string
}

// Class is a schedule class: on which days jobs run and when "not
// completed" alerts fire.
type Class struct {
	Name string
	// Days are the cron days of week the class runs (0 = Sunday).
	Days []time.Weekday
	// Window is how old the last success may be before "not completed" fires.
	Window time.Duration
	// ArmedDays are the days on which the "not completed" alert is evaluated.
	ArmedDays []time.Weekday
}

// Tier fixes thresholds and defaults for how heavy an operation is.
type Tier struct {
	Name string
	// LongRunning is the "taking a long time" threshold per operation
	// (backup and restore; transforms use the environment's limit).
	LongRunning map[Operation]time.Duration
	// Deadline is the job's activeDeadlineSeconds.
	Deadline  time.Duration
	Resources Resources
}

// Resources are Kubernetes quantities as written ("400m", "384Mi").
type Resources struct {
	RequestsCPU    string
	RequestsMemory string
	LimitsCPU      string
	LimitsMemory   string
	Tmp            string // size of /tmp: emptyDir sizeLimit and ephemeral-storage request
	Scratch        string // size of a publish's scratch server's data
}

// Quantity is one named Kubernetes quantity of Resources.
type Quantity struct{ Name, Value string }

// Quantities lists the resources' quantities by the names the schema
// gives them, for the checks that they parse.
func (r Resources) Quantities() []Quantity {
	return []Quantity{
		{"requests.cpu", r.RequestsCPU}, {"requests.memory", r.RequestsMemory},
		{"limits.cpu", r.LimitsCPU}, {"limits.memory", r.LimitsMemory}, {"tmp", r.Tmp}, {"scratch", r.Scratch},
	}
}

// Alerting is the per-estate alert policy: labels and annotations.
type Alerting struct {
	Severity      string            // severity label of every alert
	Labels        map[string]string // extra labels on every alert
	RunbookURL    string            // runbook_url annotation (a base; the alert name is appended as an anchor)
	DashboardURL  string            // dashboard_url annotation
	DashboardUID  string            // stable uid of the generated dashboard
	DashboardName string
	// Undeclared, when not nil, is the tier and class whose alerts cover
	// series no job of the environment declares.
	Undeclared *Undeclared
}

// Undeclared names a tier and a schedule class; an empty class is each
// environment's own.
type Undeclared struct{ Tier, Class string }

// UndeclaredClass is the class whose "not completed" alert covers the
// series no job of env declares: env's override, else the estate's, else
// env's own class.
func (e *Estate) UndeclaredClass(env Environment) string {
	switch {
	case env.UndeclaredClass != "":
		return env.UndeclaredClass
	case e.Alerting.Undeclared != nil && e.Alerting.Undeclared.Class != "":
		return e.Alerting.Undeclared.Class
	}
	return env.Class
}

// Position is where something was declared, for error messages.
type Position struct {
	File string // relative to Estate.Root, e.g. syncs/chat.cue
	Line int
	Col  int
}

// Sync is one database (or one group of databases) of one app, copied
// between environments.
type Sync struct {
	Name      string // unique; the CronJob name
	Pos       Position
	Instance  string // DB_INSTANCE: object keys and metric labels
	Engine    Engine
	Databases []string // in the order they are processed
	Owner     string   // owner role after a restore
	Host      string
	Port      int
	Secret    string // Kubernetes Secret holding "username" and "password"
	// Tier is the tier name per operation (every operation resolved).
	Tier       map[Operation]string
	Resources  *Resources    // nil: the highest tier's defaults
	MaxRunTime time.Duration // 0: the tier's deadline
	Env        []EnvVar      // extra environment, sorted by name
	Jobs       []Job         // one per environment the sync runs in, in environment order
	// KeepSnapshots and SearchAuth are a search sync's: the successful
	// snapshots a backup leaves, and "basic" when it reads credentials
	// from Secret ("none" otherwise).
	KeepSnapshots int
	SearchAuth    string
	// NoPersonalData is the estate's reviewed claim (personalData: false)
	// that the sync's databases hold no personal data, so restores into an
	// environment that requires sanitising need no script.
	NoPersonalData bool
	// Classification is table -> column -> "personal" or "public", checked
	// by the personal-data gate of a sanitising restore; nil when the sync
	// declares none.
	Classification map[string]map[string]string
	// AllowedEmailDomains are the domains of the scripts' pseudonymous
	// addresses, which the gate's detectors accept.
	AllowedEmailDomains []string
}

// EnvVar is an extra environment variable given to every container.
type EnvVar struct {
	Name  string
	Value string
}

// Job is what one sync does in one environment: one CronJob.
type Job struct {
	Environment string
	Pos         Position
	Operations  []Operation // ordered: restore, transform, backup or publish
	Schedule    string      // five-field cron, UTC
	Class       string
	// RestoreFrom is the environment whose bucket a restore reads.
	RestoreFrom string
	// Sanitise maps a database to its sanitise script, a path relative to
	// Estate.Root. A restore runs it on the shadow before the swap; a
	// transform operation runs it on the live database.
	Sanitise map[string]string
	Suspend  bool
	// Suspension says until when and why the job is suspended; zero for a
	// job that is not, or is with no date.
	Suspension Suspension
	Ensure     Ensure
	// AllowProductionRestore is the explicit opt-in to restore into an
	// environment whose name contains "prod".
	AllowProductionRestore bool
	// AcknowledgedHazard, when not empty, is the estate's reason for
	// accepting this job's ordering hazard.
	AcknowledgedHazard string
	// MaxRunTime overrides the sync's in this environment; 0: the sync's.
	MaxRunTime time.Duration
	// Endpoint and Repository are a search job's cluster and the snapshot
	// repository its backups write.
	Endpoint, Repository string
	// TLS is resolved field by field: the job's, else the sync's, else the
	// environment's.
	TLS TLS
}

// Runs reports whether the job is scheduled to run at all.
func (j Job) Runs() bool { return j.Ensure == Present && !j.Suspend }

// Has reports whether the job runs op.
// Stores says whether j stores a dump of what it holds for the
// environments downstream: a backup or a publish.
func (j Job) Stores() bool { return j.Has(Backup) || j.Has(Publish) }

func (j Job) Has(op Operation) bool {
	for _, o := range j.Operations {
		if o == op {
			return true
		}
	}
	return false
}

// Environment returns the environment called name.
func (e *Estate) Environment(name string) (Environment, bool) {
	for _, env := range e.Environments {
		if env.Name == name {
			return env, true
		}
	}
	return Environment{}, false
}

// Class returns the schedule class called name.
func (e *Estate) Class(name string) (Class, bool) {
	for _, c := range e.Classes {
		if c.Name == name {
			return c, true
		}
	}
	return Class{}, false
}

// EnvironmentNames lists the environments in declaration order, for
// messages: "production, staging, integration".
func (e *Estate) EnvironmentNames() string {
	names := make([]string, len(e.Environments))
	for i, env := range e.Environments {
		names[i] = env.Name
	}
	return strings.Join(names, ", ")
}

// TierNames lists the declared tiers, for messages: "quicker, slower".
func (e *Estate) TierNames() string {
	names := make([]string, len(e.Tiers))
	for i, t := range e.Tiers {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// Tier returns the tier called name.
func (e *Estate) Tier(name string) (Tier, bool) {
	for _, t := range e.Tiers {
		if t.Name == name {
			return t, true
		}
	}
	return Tier{}, false
}

// Deployed is a job that becomes a CronJob, with its sync.
type Deployed struct {
	Sync *Sync
	Job  *Job
}

// JobsIn lists the jobs of environment env that become CronJobs (every
// ensure but absent), by sync name, then in the sync's order: the one
// filter every generator of an environment's output reads.
func (e *Estate) JobsIn(env string) []Deployed {
	var out []Deployed
	for i := range e.Syncs {
		s := &e.Syncs[i]
		for k := range s.Jobs {
			if j := &s.Jobs[k]; j.Environment == env && j.Ensure != Absent {
				out = append(out, Deployed{s, j})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Deployed) int { return strings.Compare(a.Sync.Name, b.Sync.Name) })
	return out
}

// Suspension is a dated suspension: past Until (the end of that day, UTC)
// it has expired, and says so, while the job stays suspended.
type Suspension struct {
	Until  time.Time // the date, midnight UTC; zero: no date
	Reason string
}

// Expires is when the suspension has expired: the end of its day.
func (s Suspension) Expires() time.Time { return s.Until.Add(24 * time.Hour) }
