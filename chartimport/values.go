// Package chartimport turns the values file of the db-backup Helm chart
// that envsync replaces into envsync declarations: an estate (environments,
// buckets, flow, schedule classes, tiers) and one file of syncs per app,
// with a report of every value it could not express.
//
// The chart's format: cronjobs.<environment>.<job> maps, a job being
// <app>-<dbms> (the database host) with schedule, db, operations (backup,
// restore from a bucket, transform with a script; Mongo jobs list one
// operation per database), suspend, maxJobRuntimeSeconds, resources and
// extraEnv; top-level suspendAllCronJobs, resources, serviceAccount,
// securityContext, podSecurityContext and image. YAML anchors and merge
// keys are honoured.
package chartimport

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Values is the chart's values file, as the chart reads it.
type Values struct {
	File               string // as given, for messages
	Image              map[string]any
	SuspendAllCronJobs bool
	ServiceAccount     *ServiceAccount
	PodSecurityContext map[string]any
	SecurityContext    map[string]any
	Resources          *Resources
	// Environments are the keys of cronjobs, in the file's order.
	Environments []Environment
	// Ignored are top-level keys the chart does not read (anchors'
	// holders, x-...), for the report.
	Ignored []Where
}

// Where is a place in the values file.
type Where struct {
	Line int
	Path string // cronjobs.staging.chat-postgres.schedule
}

func (w Where) String() string { return fmt.Sprintf("line %d: %s", w.Line, w.Path) }

// ServiceAccount is the chart's serviceAccount.
type ServiceAccount struct {
	Create      bool              `yaml:"create"`
	Name        string            `yaml:"name"`
	Annotations map[string]string `yaml:"annotations"`
}

// Resources are a container's requests and limits.
type Resources struct {
	Requests Quantities `yaml:"requests"`
	Limits   Quantities `yaml:"limits"`
}

// Quantities are the CPU and memory of requests or limits.
type Quantities struct {
	CPU    string `yaml:"cpu"`
	Memory string `yaml:"memory"`
}

// Environment is one cronjobs.<environment> map.
type Environment struct {
	Name string
	Line int
	Jobs []Job // in the file's order
}

// Job is one CronJob of the chart.
type Job struct {
	Name                 string
	Where                Where
	Schedule             string
	DB                   string
	Host                 string
	DBMS                 string
	Operations           []Operation
	Suspend              bool
	MaxJobRuntimeSeconds int
	Resources            *Resources
	ExtraEnv             []EnvVar
	// Unknown are keys of the job the chart does not read.
	Unknown []Where
}

// Operation is one step of a job.
type Operation struct {
	Where  Where
	Op     string // backup, restore, transform
	DB     string // a Mongo job's database; else the job's
	Bucket string // restore: s3://... of the upstream environment
	Script string // transform: the script's file name
}

// EnvVar is one extraEnv entry.
type EnvVar struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// jobYAML is a job as the chart reads it; operations stay nodes for their
// lines.
type jobYAML struct {
	Schedule             string      `yaml:"schedule"`
	DB                   string      `yaml:"db"`
	Host                 string      `yaml:"host"`
	DBMS                 string      `yaml:"dbms"`
	Operations           []yaml.Node `yaml:"operations"`
	Suspend              bool        `yaml:"suspend"`
	MaxJobRuntimeSeconds int         `yaml:"maxJobRuntimeSeconds"`
	Resources            *Resources  `yaml:"resources"`
	ExtraEnv             []EnvVar    `yaml:"extraEnv"`
}

var jobKeys = []string{"schedule", "db", "host", "dbms", "operations", "suspend", "maxJobRuntimeSeconds", "resources", "extraEnv"}

// topKeys are the top-level keys the chart reads.
var topKeys = []string{"cronjobs", "image", "suspendAllCronJobs", "serviceAccount", "podSecurityContext", "securityContext", "resources"}

// Load reads the values file at path.
func Load(path string) (*Values, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse reads a values file's content; file names it in errors.
func Parse(file string, data []byte) (*Values, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a YAML mapping", file)
	}
	v := &Values{File: file}
	errf := func(n *yaml.Node, path, format string, args ...any) error { return at(file, n, path, format, args...) }
	top := doc.Content[0]
	var cronjobs *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, val := top.Content[i], top.Content[i+1]
		var err error
		switch k.Value {
		case "cronjobs":
			cronjobs = val
		case "image":
			err = val.Decode(&v.Image)
		case "suspendAllCronJobs":
			err = val.Decode(&v.SuspendAllCronJobs)
		case "serviceAccount":
			err = val.Decode(&v.ServiceAccount)
		case "podSecurityContext":
			err = val.Decode(&v.PodSecurityContext)
		case "securityContext":
			err = val.Decode(&v.SecurityContext)
		case "resources":
			err = val.Decode(&v.Resources)
		default:
			v.Ignored = append(v.Ignored, Where{k.Line, k.Value})
		}
		if err != nil {
			return nil, errf(k, k.Value, "%v", err)
		}
	}
	if cronjobs == nil || cronjobs.Kind != yaml.MappingNode || len(cronjobs.Content) == 0 {
		return nil, fmt.Errorf("%s: no cronjobs: the chart's jobs are under cronjobs.<environment>.<job>", file)
	}
	for i := 0; i+1 < len(cronjobs.Content); i += 2 {
		k, val := cronjobs.Content[i], cronjobs.Content[i+1]
		env := Environment{Name: k.Value, Line: k.Line}
		if val.Kind != yaml.MappingNode {
			return nil, errf(k, "cronjobs."+k.Value, "want a map of jobs")
		}
		for j := 0; j+1 < len(val.Content); j += 2 {
			jk, jv := val.Content[j], val.Content[j+1]
			job, err := parseJob(file, "cronjobs."+env.Name+"."+jk.Value, jk, jv)
			if err != nil {
				return nil, err
			}
			env.Jobs = append(env.Jobs, job)
		}
		v.Environments = append(v.Environments, env)
	}
	return v, nil
}

func parseJob(file, path string, key, node *yaml.Node) (Job, error) {
	errf := func(n *yaml.Node, path, format string, args ...any) error { return at(file, n, path, format, args...) }
	job := Job{Name: key.Value, Where: Where{key.Line, path}}
	var y jobYAML
	if err := node.Decode(&y); err != nil {
		return job, errf(key, path, "%v", err)
	}
	// Keys after merges, to report what the chart does not read.
	var all map[string]any
	if err := node.Decode(&all); err != nil {
		return job, errf(key, path, "%v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if !slices.Contains(jobKeys, k) {
			job.Unknown = append(job.Unknown, Where{key.Line, path + "." + k})
		}
	}
	job.Schedule, job.DB, job.Host, job.DBMS = y.Schedule, y.DB, y.Host, y.DBMS
	job.Suspend, job.MaxJobRuntimeSeconds, job.Resources, job.ExtraEnv = y.Suspend, y.MaxJobRuntimeSeconds, y.Resources, y.ExtraEnv
	if job.Schedule == "" {
		return job, errf(key, path, "no schedule")
	}
	if len(y.Operations) == 0 {
		return job, errf(key, path, "no operations")
	}
	for i := range y.Operations {
		n := &y.Operations[i]
		opPath := fmt.Sprintf("%s.operations[%d]", path, i)
		var o struct {
			Op     string `yaml:"op"`
			DB     string `yaml:"db"`
			Bucket string `yaml:"bucket"`
			Script string `yaml:"script"`
		}
		if err := n.Decode(&o); err != nil {
			return job, errf(n, opPath, "%v", err)
		}
		op := Operation{Where: Where{n.Line, opPath}, Op: o.Op, DB: o.DB, Bucket: o.Bucket, Script: o.Script}
		if op.DB == "" {
			op.DB = job.DB
		}
		switch {
		case op.DB == "":
			return job, errf(n, opPath, "no db: set db on the job or on the operation")
		case op.Op == "restore" && op.Bucket == "":
			return job, errf(n, opPath, "a restore with no bucket")
		case op.Op == "transform" && op.Script == "":
			return job, errf(n, opPath, "a transform with no script")
		case op.Op != "backup" && op.Op != "restore" && op.Op != "transform":
			return job, errf(n, opPath+".op", "%q is not backup, restore or transform", op.Op)
		}
		job.Operations = append(job.Operations, op)
	}
	return job, nil
}

// at is an error at a node of the values file: "file:line: path: message".
func at(file string, n *yaml.Node, path, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", file, n.Line, path, fmt.Sprintf(format, args...))
}

// engineOf is the envsync engine of a chart's DBMS name.
func engineOf(dbms string) (string, bool) {
	switch strings.ToLower(dbms) {
	case "postgres", "postgresql":
		return "postgres", true
	case "mysql", "mariadb":
		return "mysql", true
	case "documentdb", "mongo", "mongodb":
		return "mongo", true
	}
	return "", false
}
