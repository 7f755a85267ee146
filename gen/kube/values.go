// Package kube turns the estate into what Kubernetes runs, per environment:
// the Helm values that chart/envsync renders, the same CronJobs built from
// k8s.io/api types, and the ConfigMap of sanitise scripts.
//
// HelmValues (from Values) is the plan: every decision (which containers, in which order,
// which bucket, which script, which deadline and resources) is taken once,
// here. CronJobs renders that plan in Go; the chart renders it in Helm. A
// test runs the real helm and asserts both renderings are equal, so neither
// can drift.
package kube

import (
	"cmp"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/model"
)

// Fixed policy of every job; the chart's values.yaml documents the same
// defaults.
const (
	// ScriptsMountPath is where a job sees the sanitise scripts ConfigMap.
	ScriptsMountPath = "/etc/envsync/scripts"
	// CAMountPath is where a job sees its CA bundle's ConfigMap or Secret.
	CAMountPath = "/etc/envsync/tls"
	// ScriptsConfigMapName is the ConfigMap holding an environment's scripts.
	ScriptsConfigMapName = "envsync-sanitise-scripts"
	// RunnerUID is the user (and group) of the runner image.
	RunnerUID = 10001
	// RunnerCommand is the runner binary on the image's PATH.
	RunnerCommand = "envsync"

	startingDeadline           = 8 * time.Hour
	defaultDeadline            = 12 * time.Hour
	successfulJobsHistoryLimit = 1
	failedJobsHistoryLimit     = 3
	timeZone                   = "Etc/UTC"
)

// HelmValues is one environment's Helm values for chart/envsync.
type HelmValues struct {
	Environment    string   `json:"environment"`
	Namespace      string   `json:"namespace"`
	Image          string   `json:"image"`
	PushgatewayURL string   `json:"pushgatewayURL,omitempty"`
	Defaults       Defaults `json:"defaults"`
	Scripts        Scripts  `json:"scripts"`
	CAMountPath    string   `json:"caMountPath"` // where a job's CA bundle is mounted
	// ServiceAccount is what every job runs as; nil: the namespace's default.
	ServiceAccount *ServiceAccount `json:"serviceAccount,omitempty"`
	// PodAnnotations are added to every job's pod.
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`
	// DNSConfig is every job pod's DNS configuration; nil: the cluster's.
	DNSConfig *corev1.PodDNSConfig `json:"dnsConfig,omitempty"`
	// ExternalSecrets, when set, renders the ExternalSecret of every
	// Secret the jobs read.
	ExternalSecrets *ExternalSecrets `json:"externalSecrets,omitempty"`
	Jobs            []Job            `json:"jobs"` // sorted by name
}

// ExternalSecrets are the ExternalSecrets (external-secrets.io/v1) that
// fill the jobs' Secrets from the estate's secret store.
type ExternalSecrets struct {
	Store            StoreRef `json:"store"`
	RefreshInterval  string   `json:"refreshInterval"`
	UsernameProperty string   `json:"usernameProperty"`
	PasswordProperty string   `json:"passwordProperty"`
	// Secrets are sorted by name, one per Secret however many jobs read it.
	Secrets []RemoteSecret `json:"secrets"`
}

// StoreRef names a SecretStore or ClusterSecretStore.
type StoreRef struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// RemoteSecret is one Secret and the key of its credentials in the store.
type RemoteSecret struct {
	Name      string `json:"name"`
	RemoteKey string `json:"remoteKey"`
}

// ServiceAccount is the account of the environment's jobs, which carries
// their S3 credentials (EKS IRSA: the role-arn annotation), and whether the
// chart creates it.
type ServiceAccount struct {
	Name        string            `json:"name"`
	Create      bool              `json:"create"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Defaults are the policy shared by every job of the environment.
type Defaults struct {
	TimeZone                   string `json:"timeZone"`
	StartingDeadlineSeconds    int64  `json:"startingDeadlineSeconds"`
	SuccessfulJobsHistoryLimit int32  `json:"successfulJobsHistoryLimit"`
	FailedJobsHistoryLimit     int32  `json:"failedJobsHistoryLimit"`
	// RunAsUser is the runner image's user; also its group and fsGroup.
	RunAsUser int64 `json:"runAsUser"`
	// TerminationGracePeriodSeconds: see the constant.
	TerminationGracePeriodSeconds int64 `json:"terminationGracePeriodSeconds"`
}

// Scripts is the ConfigMap of sanitise scripts and where jobs mount it.
type Scripts struct {
	ConfigMap string `json:"configMap"`
	MountPath string `json:"mountPath"`
	// Files maps a ConfigMap key (the script's file name) to its content.
	Files map[string]string `json:"files,omitempty"`
}

// Job is one CronJob: one sync in this environment.
type Job struct {
	// Name is the CronJob's: the environment's jobNamePrefix and the sync.
	Name     string `json:"name"`
	Sync     string `json:"sync"`
	Engine   string `json:"engine"`
	Instance string `json:"instance"`
	Host     string `json:"host"`
	Port     int    `json:"port,omitempty"`
	// Secret names the Kubernetes Secret holding "username" and "password";
	// empty for a search cluster reached without credentials.
	Secret                 string    `json:"secret,omitempty"`
	Owner                  string    `json:"owner,omitempty"`
	Schedule               string    `json:"schedule"`
	Suspend                bool      `json:"suspend"`
	ActiveDeadlineSeconds  int64     `json:"activeDeadlineSeconds"`
	AllowProductionRestore bool      `json:"allowProductionRestore,omitempty"`
	Resources              Resources `json:"resources"`
	// SSLMode is DB_SSLMODE; CA, when set, is mounted and named by
	// DB_SSLROOTCERT.
	SSLMode string `json:"sslMode,omitempty"`
	CA      *CA    `json:"ca,omitempty"`
	// KeepSnapshots is a search job's SNAPSHOTS_KEEP.
	KeepSnapshots int `json:"keepSnapshots,omitempty"`
	// SearchAuth is a search job's SEARCH_AUTH: "aws" signs its requests.
	SearchAuth string `json:"searchAuth,omitempty"`
	// Scratch is a publishing job's scratch server, run beside the runner
	// as a native sidecar; nil for any other job.
	Scratch *Scratch `json:"scratch,omitempty"`
	// Env is extra environment given to every container, sorted by name.
	Env        []EnvVar    `json:"env,omitempty"`
	Containers []Container `json:"containers"` // in the order they run
}

// Scratch is the throwaway database server a publish loads the live dump
// into: an init container with restartPolicy Always (a native sidecar,
// Kubernetes 1.29 and later), stopped with the pod. Its password is made
// when the pod starts (the init container scratch-password writes it into
// a memory-backed volume), never stored in a Secret or an argument.
type Scratch struct {
	Image string `json:"image"`
	// User is the user the image creates and the runner logs in as.
	User string `json:"user"`
	// Env is the image's own settings: the variables naming that user,
	// the file holding its password, its data directory.
	Env  []EnvVar `json:"env"`
	Args []string `json:"args"`
	// DataDir holds its data, an emptyDir of Size; RunDirs are the other
	// directories it writes besides /tmp, each an emptyDir (its root is
	// read-only).
	DataDir string   `json:"dataDir"`
	RunDirs []string `json:"runDirs"`
	Size    string   `json:"size"`
	// SecretPath is where the password's volume is mounted, PasswordFile
	// the file in it.
	SecretPath   string `json:"secretPath"`
	PasswordFile string `json:"passwordFile"`
}

// ScratchSecretPath is where the scratch password's volume is mounted, in
// the sidecar and in the runner; ScratchPasswordFile is the file.
const (
	ScratchSecretPath   = "/scratch"
	ScratchPasswordFile = ScratchSecretPath + "/password"
)

// CA is the ConfigMap or the Secret (one of them) holding a CA bundle.
type CA struct {
	ConfigMap string `json:"configMap,omitempty"`
	Secret    string `json:"secret,omitempty"`
	Key       string `json:"key"`
}

// Container is one operation on one database.
type Container struct {
	Name      string `json:"name"`
	Operation string `json:"operation"`
	Database  string `json:"database"`
	Bucket    string `json:"bucket,omitempty"` // empty for a search job
	// SnapshotRepository is a search job's: its own for a backup, the
	// upstream one for a restore.
	SnapshotRepository string `json:"snapshotRepository,omitempty"`
	// SanitiseScript is the script's key in the scripts ConfigMap.
	SanitiseScript string `json:"sanitiseScript,omitempty"`
	// Classification is the key of the sync's classification in the
	// scripts ConfigMap, for a restore whose personal-data gate checks it.
	Classification string `json:"classification,omitempty"`
	// RawBucket is a publish's RAW_BUCKET: where the raw dump is kept.
	RawBucket string `json:"rawBucket,omitempty"`
	// DumpFormat is a backup's or publish's ENVSYNC_DUMP_FORMAT when it
	// is not the runner's default.
	DumpFormat string `json:"dumpFormat,omitempty"`
	// KeepDumps and KeepDays are a backup's or publish's retention
	// (ENVSYNC_KEEP_DUMPS, ENVSYNC_KEEP_DAYS) when declared.
	KeepDumps int `json:"keepDumps,omitempty"`
	KeepDays  int `json:"keepDays,omitempty"`
}

// EnvVar is a literal environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Resources are the pod's container requests and limits.
type Resources struct {
	Requests ResourceList `json:"requests,omitempty"`
	Limits   ResourceList `json:"limits,omitempty"`
}

// ResourceList holds Kubernetes quantities as written ("400m", "384Mi").
type ResourceList struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	// EphemeralStorage, in requests, is the size of /tmp: also its
	// emptyDir's sizeLimit.
	EphemeralStorage string `json:"ephemeral-storage,omitempty"`
}

// Values plans the CronJobs of environment env.
func Values(e *model.Estate, env string) (*HelmValues, error) {
	environment, ok := e.Environment(env)
	if !ok {
		return nil, fmt.Errorf("environment %q is not declared", env)
	}
	if e.Image == "" {
		return nil, fmt.Errorf("environment %q: the estate names no runner image", env)
	}
	files, err := scriptFiles(e, env)
	if err != nil {
		return nil, err
	}
	v := &HelmValues{
		Environment:    env,
		Namespace:      environment.Namespace,
		Image:          e.Image,
		PushgatewayURL: e.Pushgateway,
		Defaults: Defaults{
			TimeZone:                      timeZone,
			StartingDeadlineSeconds:       int64(startingDeadline / time.Second),
			SuccessfulJobsHistoryLimit:    successfulJobsHistoryLimit,
			FailedJobsHistoryLimit:        failedJobsHistoryLimit,
			RunAsUser:                     RunnerUID,
			TerminationGracePeriodSeconds: TerminationGracePeriodSeconds,
		},
		Scripts:     Scripts{ConfigMap: ScriptsConfigMapName, MountPath: ScriptsMountPath},
		CAMountPath: CAMountPath,
		Jobs:        []Job{},
	}
	// Copies: the values are the caller's to change, the model is not.
	if len(environment.PodAnnotations) > 0 {
		v.PodAnnotations = maps.Clone(environment.PodAnnotations)
	}
	if sa := environment.ServiceAccount; sa != nil {
		v.ServiceAccount = &ServiceAccount{Name: sa.Name, Create: sa.Create, Annotations: maps.Clone(sa.Annotations)}
		if errs := validation.IsDNS1123Subdomain(sa.Name); len(errs) > 0 {
			return nil, fmt.Errorf("environment %q: serviceAccount %q: %s", env, sa.Name, strings.Join(errs, "; "))
		}
	}
	if d := environment.DNS; d != nil {
		v.DNSConfig = &corev1.PodDNSConfig{Nameservers: d.Nameservers, Searches: d.Searches}
		for _, name := range slices.Sorted(maps.Keys(d.Options)) {
			o := corev1.PodDNSConfigOption{Name: name}
			if val := d.Options[name]; val != "" {
				o.Value = ptr.To(val)
			}
			v.DNSConfig.Options = append(v.DNSConfig.Options, o)
		}
	}
	if len(files) > 0 {
		v.Scripts.Files = map[string]string{}
		for _, f := range files {
			v.Scripts.Files[f.key] = f.content
		}
	}
	if errs := validation.IsDNS1123Label(environment.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("environment %q: namespace %q: %s", env, environment.Namespace, strings.Join(errs, "; "))
	}
	for _, d := range e.JobsIn(env) {
		job, err := planJob(e, environment, *d.Sync, *d.Job)
		if err != nil {
			return nil, fmt.Errorf("sync %q in environment %q: %w", d.Sync.Name, env, err)
		}
		v.Jobs = append(v.Jobs, job)
	}
	for i := 1; i < len(v.Jobs); i++ {
		if v.Jobs[i].Name == v.Jobs[i-1].Name {
			return nil, fmt.Errorf("sync %q in environment %q: two jobs share the CronJob name", v.Jobs[i].Name, env)
		}
	}
	if x := environment.ExternalSecrets; x != nil {
		es, err := externalSecrets(x, v.Jobs)
		if err != nil {
			return nil, fmt.Errorf("environment %q: externalSecrets: %w", env, err)
		}
		v.ExternalSecrets = es
	}
	return v, nil
}

// externalSecrets plans one ExternalSecret per Secret the jobs read. Jobs
// sharing a Secret must agree on where it comes from.
func externalSecrets(x *model.ExternalSecrets, jobs []Job) (*ExternalSecrets, error) {
	es := &ExternalSecrets{
		Store:            StoreRef{Name: x.StoreName, Kind: x.StoreKind},
		RefreshInterval:  x.RefreshInterval.String(),
		UsernameProperty: x.UsernameProperty,
		PasswordProperty: x.PasswordProperty,
		Secrets:          []RemoteSecret{},
	}
	type keyed struct{ key, sync string } // a Secret's remote key and the sync that gave it
	seen := map[string]keyed{}
	for _, j := range jobs {
		if j.Secret == "" {
			continue // a search cluster reached without credentials
		}
		key := strings.NewReplacer("{instance}", j.Instance, "{secret}", j.Secret).Replace(x.RemoteKey)
		first, ok := seen[j.Secret]
		switch {
		case !ok:
			seen[j.Secret] = keyed{key, j.Sync}
			es.Secrets = append(es.Secrets, RemoteSecret{Name: j.Secret, RemoteKey: key})
		case first.key != key:
			return nil, fmt.Errorf("syncs %q and %q share the Secret %q but remoteKey gives them %q and %q: use {secret} in remoteKey or give each its own secret",
				first.sync, j.Sync, j.Secret, first.key, key)
		}
	}
	sort.Slice(es.Secrets, func(a, b int) bool { return es.Secrets[a].Name < es.Secrets[b].Name })
	return es, nil
}

func planJob(e *model.Estate, environment model.Environment, s model.Sync, j model.Job) (Job, error) {
	name := environment.CronJobName(s.Name)
	if err := checkName(name); err != nil {
		return Job{}, err
	}
	labels := map[string]string{"sync": s.Name, "instance": s.Instance, "engine": string(s.Engine), "environment": environment.Name}
	for _, k := range []string{"engine", "environment", "instance", "sync"} {
		if errs := validation.IsValidLabelValue(labels[k]); len(errs) > 0 {
			return Job{}, fmt.Errorf("%s %q is not a valid label value: %s", k, labels[k], strings.Join(errs, "; "))
		}
	}
	search := s.Engine == model.OpenSearch
	secret := s.Secret
	if search && s.SearchAuth != "basic" {
		secret = ""
	} else if secret == "" {
		return Job{}, fmt.Errorf("no Secret named for the database credentials")
	}
	if errs := validation.IsDNS1123Subdomain(secret); secret != "" && len(errs) > 0 {
		return Job{}, fmt.Errorf("secret name %q: %s", secret, strings.Join(errs, "; "))
	}
	if j.Schedule == "" {
		return Job{}, fmt.Errorf("no schedule")
	}
	if len(j.Operations) == 0 {
		return Job{}, fmt.Errorf("the job has no operations")
	}
	deadline, err := jobDeadline(e, s, j)
	if err != nil {
		return Job{}, err
	}
	res, err := jobResources(e, s, j)
	if err != nil {
		return Job{}, err
	}
	seenEnv := map[string]bool{}
	for _, ev := range s.Env {
		if seenEnv[ev.Name] {
			return Job{}, fmt.Errorf("env %q is set twice", ev.Name)
		}
		seenEnv[ev.Name] = true
		if errs := validation.IsEnvVarName(ev.Name); len(errs) > 0 {
			return Job{}, fmt.Errorf("env %q: %s", ev.Name, strings.Join(errs, "; "))
		}
		if contract.Reserved(ev.Name) {
			return Job{}, fmt.Errorf("env %q is set by envsync itself and cannot be overridden", ev.Name)
		}
	}
	containers, err := planContainers(e, environment, s, j)
	if err != nil {
		return Job{}, err
	}
	job := Job{
		Name:                   name,
		Sync:                   s.Name,
		Engine:                 string(s.Engine),
		Instance:               s.Instance,
		Host:                   s.Host,
		Port:                   s.Port,
		Secret:                 secret,
		Owner:                  s.Owner,
		Schedule:               j.Schedule,
		Suspend:                j.Suspend || j.Ensure == model.Disabled,
		ActiveDeadlineSeconds:  int64(deadline / time.Second),
		AllowProductionRestore: j.AllowProductionRestore,
		Resources:              res,
		SSLMode:                cmp.Or(j.TLS.Mode, "prefer"),
		Containers:             containers,
	}
	if ca := j.TLS.CA; ca != nil && !search {
		job.CA = &CA{ConfigMap: ca.ConfigMap, Secret: ca.Secret, Key: ca.Key}
	}
	if j.Has(model.Publish) {
		if job.Scratch, err = scratch(e, s, j); err != nil {
			return Job{}, err
		}
	}
	if search {
		// A search cluster is reached at its URL over HTTP(S): no port,
		// owner or database TLS mode of its own.
		job.Host, job.Port, job.SSLMode, job.KeepSnapshots = j.Endpoint, 0, "", s.KeepSnapshots
		if s.SearchAuth == "aws" {
			job.SearchAuth = s.SearchAuth
		}
	}
	for _, ev := range s.Env {
		job.Env = append(job.Env, EnvVar(ev))
	}
	sort.SliceStable(job.Env, func(a, b int) bool { return job.Env[a].Name < job.Env[b].Name })
	return job, nil
}

// scratch plans a publishing job's scratch server from the engine's
// contract and the estate's image for it.
func scratch(e *model.Estate, s model.Sync, j model.Job) (*Scratch, error) {
	ce, ok := contract.EngineNamed(string(s.Engine))
	if !ok || ce.Scratch == nil {
		return nil, fmt.Errorf("a publish on engine %s, which has no scratch server", s.Engine)
	}
	image := e.ScratchImages[s.Engine]
	if image == "" {
		return nil, fmt.Errorf("a publish, but the estate names no scratch image for %s", s.Engine)
	}
	size := "20Gi"
	if r := s.Resources; r != nil && r.Scratch != "" {
		size = r.Scratch
	} else if t, err := opTier(e, s, model.Publish); err == nil && t.Resources.Scratch != "" {
		size = t.Resources.Scratch
	}
	if _, err := resource.ParseQuantity(size); err != nil {
		return nil, fmt.Errorf("resources scratch %q: %v", size, err)
	}
	sc := &Scratch{Image: image, User: ce.Scratch.User, Args: slices.Clone(ce.Scratch.Args),
		DataDir: ce.Scratch.DataDir, RunDirs: slices.Clone(ce.Scratch.RunDirs), Size: size,
		SecretPath: ScratchSecretPath, PasswordFile: ScratchPasswordFile}
	if ce.Scratch.UserVariable != "" {
		sc.Env = append(sc.Env, EnvVar{ce.Scratch.UserVariable, ce.Scratch.User})
	}
	sc.Env = append(sc.Env, EnvVar{ce.Scratch.PasswordFileVariable, ScratchPasswordFile})
	if ce.Scratch.DataDirVariable != "" {
		sc.Env = append(sc.Env, EnvVar{ce.Scratch.DataDirVariable, ce.Scratch.DataDir})
	}
	return sc, nil
}

// checkName checks a CronJob name: a DNS-1123 subdomain of at most 52
// characters, because the Job controller appends 11.
func checkName(name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("CronJob name %q: %s", name, strings.Join(errs, "; "))
	}
	if len(name) > contract.MaxCronJobName {
		return fmt.Errorf("CronJob name %q is %d characters, longer than %d (the Job controller appends 11)", name, len(name), contract.MaxCronJobName)
	}
	return nil
}

// planContainers lays out the operations. Naming rule: the container of an
// operation is "<n>-<operation>" with n fixed per operation (0 restore,
// 1 transform, 2 backup), so that `kubectl logs -c 0-restore` works. A sync
// over several databases gets one container per database and operation,
// database after database in declared order, each database's operations in
// the fixed order; its names gain the database's short name, the database
// name without "_production" and with "_" turned into "-"
// ("0-restore-govuk-assets"). A transform runs only on the databases that
// have a sanitise script; a transform with no script at all is an error,
// since the runner would refuse it.
func planContainers(e *model.Estate, environment model.Environment, s model.Sync, j model.Job) ([]Container, error) {
	if len(s.Databases) == 0 {
		return nil, fmt.Errorf("no database declared")
	}
	multi := len(s.Databases) > 1
	anyScript := false
	for _, db := range s.Databases {
		if j.Sanitise[db] != "" {
			anyScript = true
		}
	}
	if j.Has(model.Transform) && !anyScript {
		return nil, fmt.Errorf("a transform operation but no sanitise script for any database")
	}
	for db := range j.Sanitise {
		if !contains(s.Databases, db) {
			return nil, fmt.Errorf("sanitise script for database %q, which the sync does not declare", db)
		}
	}
	var out []Container
	seen := map[string]bool{}
	for _, db := range s.Databases {
		for n, op := range model.Operations {
			if !j.Has(op) {
				continue
			}
			script := j.Sanitise[db]
			if op == model.Transform && script == "" {
				continue
			}
			c := Container{Name: fmt.Sprintf("%d-%s", n, op), Operation: string(op), Database: db, Bucket: environment.Bucket}
			if multi {
				c.Name += "-" + contract.DatabaseShortName(db)
			}
			if errs := validation.IsDNS1123Label(c.Name); len(errs) > 0 {
				return nil, fmt.Errorf("container name %q (database %q): %s", c.Name, db, strings.Join(errs, "; "))
			}
			if seen[c.Name] {
				return nil, fmt.Errorf("two containers would be named %q; rename a database", c.Name)
			}
			seen[c.Name] = true
			if op == model.Restore {
				if j.RestoreFrom == "" {
					return nil, fmt.Errorf("a restore with no environment to restore from")
				}
				from, ok := e.Environment(j.RestoreFrom)
				if !ok {
					return nil, fmt.Errorf("restores from undeclared environment %q", j.RestoreFrom)
				}
				c.Bucket = from.Bucket
			}
			if s.Engine == model.OpenSearch {
				// The cluster's repository stands in for the bucket.
				c.Bucket, c.SnapshotRepository = "", j.Repository
				if op == model.Restore {
					c.SnapshotRepository = upstreamRepository(s, j.RestoreFrom)
				}
			}
			// The restore runs the script on the shadow before the swap,
			// unless the job has its own transform operation; a publish on
			// its scratch server.
			wantsScript := op == model.Transform || op == model.Publish || (op == model.Restore && !j.Has(model.Transform))
			if script != "" && wantsScript {
				c.SanitiseScript = path.Base(script)
				if (op == model.Restore || op == model.Publish) && gated(&s, &j) {
					c.Classification = contract.ClassificationFile(s.Name)
				}
			}
			if op == model.Publish {
				c.RawBucket = environment.RawBucket
			}
			if (op == model.Backup || op == model.Publish) && environment.DumpFormat == "gzip" && s.Engine != model.OpenSearch {
				c.DumpFormat = environment.DumpFormat
			}
			if (op == model.Backup || op == model.Publish) && s.Engine != model.OpenSearch {
				c.KeepDumps, c.KeepDays = environment.KeepDumps, environment.KeepDays
			}
			if op == model.Backup && environment.KeepsRaw(&s) {
				// Raw data never goes where the sanitised dumps are published.
				c.Bucket = environment.RawBucket
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// upstreamRepository is the snapshot repository of sync s in environment
// env: what a restore from env reads.
func upstreamRepository(s model.Sync, env string) string {
	for _, j := range s.Jobs {
		if j.Environment == env {
			return j.Repository
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// jobDeadline is the job's maximum run time, else the sync's, else the
// longest deadline of the tiers of the job's operations, else 12 h.
func jobDeadline(e *model.Estate, s model.Sync, j model.Job) (time.Duration, error) {
	if j.MaxRunTime > 0 {
		return j.MaxRunTime, nil
	}
	if s.MaxRunTime > 0 {
		return s.MaxRunTime, nil
	}
	var d time.Duration
	for _, op := range j.Operations {
		t, err := opTier(e, s, op)
		if err != nil {
			return 0, err
		}
		d = max(d, t.Deadline)
	}
	if d == 0 {
		d = defaultDeadline
	}
	return d, nil
}

func opTier(e *model.Estate, s model.Sync, op model.Operation) (model.Tier, error) {
	name := s.Tier[op]
	t, ok := e.Tier(name)
	if !ok {
		return model.Tier{}, fmt.Errorf("operation %s: unknown tier %q", op, name)
	}
	return t, nil
}

// jobResources are the sync's resources, else the defaults of the heaviest
// tier among the job's operations: the one with the longest long-running
// threshold, then the longest deadline, then the name.
func jobResources(e *model.Estate, s model.Sync, j model.Job) (Resources, error) {
	r := s.Resources
	if r == nil {
		var heaviest *model.Tier
		for _, op := range j.Operations {
			t, err := opTier(e, s, op)
			if err != nil {
				return Resources{}, err
			}
			if heaviest == nil || heavier(t, *heaviest) {
				heaviest = &t
			}
		}
		r = &heaviest.Resources
	}
	for _, q := range r.Quantities() {
		if q.Value == "" {
			continue
		}
		if _, err := resource.ParseQuantity(q.Value); err != nil {
			return Resources{}, fmt.Errorf("resources %s %q: %v", q.Name, q.Value, err)
		}
	}
	return Resources{
		Requests: ResourceList{CPU: r.RequestsCPU, Memory: r.RequestsMemory, EphemeralStorage: r.Tmp},
		Limits:   ResourceList{CPU: r.LimitsCPU, Memory: r.LimitsMemory},
	}, nil
}

func heavier(a, b model.Tier) bool {
	la, lb := longest(a), longest(b)
	if la != lb {
		return la > lb
	}
	if a.Deadline != b.Deadline {
		return a.Deadline > b.Deadline
	}
	return a.Name > b.Name
}

// longest is the tier's longer threshold of backup and restore (a
// publish's is their sum, and would rank tiers otherwise).
func longest(t model.Tier) time.Duration {
	return max(t.LongRunning[model.Backup], t.LongRunning[model.Restore])
}
