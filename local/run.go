package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Endpoint is where a database listens on this machine.
type Endpoint struct {
	Host string
	Port int
}

// ParseEndpoint reads "host:port".
func ParseEndpoint(s string) (Endpoint, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %q: want host:port", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return Endpoint{}, fmt.Errorf("endpoint %q: port %q is not a TCP port", s, port)
	}
	return Endpoint{Host: host, Port: p}, nil
}

// Overrides are the only ways a local run departs from the container's
// environment, each for pointing a job at servers on this machine.
type Overrides struct {
	// Databases maps a DB_INSTANCE value (or, for a container without one,
	// its DB_HOST value) to the local server that stands in for it:
	// DB_HOST and DB_PORT are replaced. Database names, users and owners
	// are kept, so a local server per environment and engine holds the same
	// database names as the real one.
	Databases map[string]Endpoint
	// S3Endpoint, when set, becomes AWS_ENDPOINT_URL_S3: s3:// buckets keep
	// their names and are served by a local S3-compatible server.
	S3Endpoint string
	// BucketsDir, when set, turns BUCKET=s3://NAME into file://DIR/NAME, for
	// trying jobs without any S3 server.
	BucketsDir string
	// Pushgateway, when set, replaces PROMETHEUS_PUSHGATEWAY_URL.
	Pushgateway string
	// Filename, when set, is the FILENAME of every restore container: the
	// dump to restore instead of the latest (a key, a file name or a
	// timestamp).
	Filename string
	// Env sets variables of every container, for what a local stand-in
	// needs that the real server does not (DB_AUTH_MECHANISM=PLAIN for
	// FerretDB standing in for DocumentDB).
	Env map[string]string
	// Scratch maps an engine (DB_ENGINE) to the local server standing in
	// for a publishing job's scratch sidecar: the pod's sidecar is not run,
	// nor its password's maker; the publish reaches this server instead,
	// with the user and password of the Secret ScratchSecret(engine).
	Scratch map[string]Endpoint
	// Only, when not empty, runs only the containers of these operations
	// (restore, transform, backup): a roll-back to an older dump runs the
	// restore alone, so that the backup after it does not publish the old
	// data as the newest dump for the environments downstream.
	Only []string
}

// ScratchSecret names the Secret of --secrets holding the username and
// password of the local scratch server of engine.
func ScratchSecret(engine string) string { return "envsync-scratch-" + engine }

// passThrough are the variables of the caller's environment a container
// process inherits: a pod has a PATH and a HOME too, and the AWS SDK's
// standard configuration (credentials, region) is how a pod's service
// account reaches S3.
func passThrough(name string) bool {
	switch name {
	case "PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER":
		return true
	}
	return strings.HasPrefix(name, "AWS_")
}

// Runner runs CronJobs' containers as processes of the envsync binary.
type Runner struct {
	Binary    string // the envsync executable
	Manifests *Manifests
	Secrets   Secrets
	// ConfigMaps stand in for ConfigMaps the cluster holds but out/ does
	// not (a CA bundle's): name, then key, then content.
	ConfigMaps map[string]map[string]string
	Overrides  Overrides
	Force      bool // run suspended CronJobs too
	// PlanOnly lets a plan name a Secret key that was not given (its value
	// is left empty): for showing what would run without any credentials.
	PlanOnly  bool
	Stdout    io.Writer // containers' output; default os.Stdout
	Stderr    io.Writer // default os.Stderr
	Log       *slog.Logger
	CallerEnv []string         // default os.Environ()
	Now       func() time.Time // default time.Now; names the pods
}

// Process is one container resolved into a command line and environment.
type Process struct {
	Container string
	Args      []string // after the envsync binary
	Env       []string // sorted NAME=value
	Dir       string   // working directory, "" for the caller's
	// secret names the variables whose values came from a Secret.
	secret map[string]bool
}

// Redacted returns Env with the values of Secret-held variables hidden.
func (p Process) Redacted() []string {
	out := make([]string, len(p.Env))
	for i, kv := range p.Env {
		name, _, _ := strings.Cut(kv, "=")
		if p.secret[name] {
			kv = name + "=<from secret>"
		}
		out[i] = kv
	}
	return out
}

// Plan is a CronJob ready to run: its pod's containers in order.
type Plan struct {
	Job       string
	Pod       string
	Suspended bool
	Deadline  time.Duration // activeDeadlineSeconds; 0 for none
	Processes []Process
}

// ErrSuspended is returned for a suspended CronJob run without Force.
var ErrSuspended = errors.New("suspended")

// ContainerError is the failure of one container; the job stopped there.
type ContainerError struct {
	Job, Container string
	Err            error
}

func (e *ContainerError) Error() string {
	return fmt.Sprintf("job %s: container %s: %v", e.Job, e.Container, e.Err)
}

func (e *ContainerError) Unwrap() error { return e.Err }

// PlanJob resolves every container of cj into a Process. Files that a
// ConfigMap or Secret volume would mount are written under workDir.
func (r *Runner) PlanJob(cj *batchv1.CronJob, workDir string) (*Plan, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	pod := cj.Spec.JobTemplate.Spec.Template
	// A Job created by a CronJob is named after the scheduled minute.
	plan := &Plan{
		Job:       cj.Name,
		Pod:       fmt.Sprintf("%s-%d-local", cj.Name, now().Unix()/60),
		Suspended: cj.Spec.Suspend != nil && *cj.Spec.Suspend,
	}
	if d := cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds; d != nil {
		plan.Deadline = time.Duration(*d) * time.Second
	}
	mounts, err := r.materialiseVolumes(cj, pod.Spec.Volumes, workDir)
	if err != nil {
		return nil, err
	}
	containers := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	if len(containers) == 0 {
		return nil, fmt.Errorf("CronJob %s has no containers", cj.Name)
	}
	for _, c := range containers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			continue // a sidecar: the scratch server, stood in for by Overrides.Scratch
		}
		if len(c.Args) == 2 && c.Args[0] == "scratch-password" {
			// The local scratch server's password, in the file the pod's
			// first container would make.
			if err := r.writeScratchPassword(cj, c, mounts); err != nil {
				return nil, fmt.Errorf("CronJob %s: %w", cj.Name, err)
			}
			continue
		}
		if len(r.Overrides.Only) > 0 && !slices.ContainsFunc(r.Overrides.Only, func(op string) bool { return slices.Contains(c.Args, op) }) {
			continue
		}
		p, err := r.planContainer(cj, plan.Pod, c, mounts)
		if err != nil {
			return nil, fmt.Errorf("CronJob %s, container %s: %w", cj.Name, c.Name, err)
		}
		plan.Processes = append(plan.Processes, p)
	}
	return plan, nil
}

// writeScratchPassword writes, where container c (envsync scratch-password
// FILE) would write a new password, the password of the local scratch
// server of cj's engine.
func (r *Runner) writeScratchPassword(cj *batchv1.CronJob, c corev1.Container, volumes map[string]string) error {
	engine := cj.Labels["envsync.io/engine"]
	if _, ok := r.Overrides.Scratch[engine]; !ok {
		return fmt.Errorf("it publishes through a scratch %s server: give a local one with --scratch %s=HOST:PORT and its username and password in --secrets under %s", engine, engine, ScratchSecret(engine))
	}
	cred, ok := r.Secrets[ScratchSecret(engine)]
	if !ok || cred["username"] == "" {
		return fmt.Errorf("the local scratch %s server's username and password are not in --secrets under %s", engine, ScratchSecret(engine))
	}
	for _, m := range c.VolumeMounts {
		if rest, ok := strings.CutPrefix(c.Args[1], strings.TrimRight(m.MountPath, "/")+"/"); ok {
			return os.WriteFile(filepath.Join(volumes[m.Name], rest), []byte(cred["password"]+"\n"), 0o600)
		}
	}
	return fmt.Errorf("container %s writes %s, under none of its mounts", c.Name, c.Args[1])
}

// materialiseVolumes writes ConfigMap and Secret volumes and creates
// emptyDir volumes under workDir, and returns where each volume now lives.
func (r *Runner) materialiseVolumes(cj *batchv1.CronJob, vols []corev1.Volume, workDir string) (map[string]string, error) {
	dirs := map[string]string{}
	for _, v := range vols {
		dir := filepath.Join(workDir, "volumes", v.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		dirs[v.Name] = dir
		var data map[string]string
		var items []corev1.KeyToPath
		switch {
		case v.ConfigMap != nil:
			cm, ok := r.Manifests.ConfigMaps[v.ConfigMap.Name]
			given, isGiven := r.ConfigMaps[v.ConfigMap.Name]
			switch {
			case ok:
				data = cm.Data
			case isGiven:
				data = given
			case v.ConfigMap.Optional != nil && *v.ConfigMap.Optional:
				continue
			default:
				return nil, fmt.Errorf("CronJob %s, volume %s: ConfigMap %s is not among the manifests in %s (give its keys with --configmap-file %s/KEY=PATH)", cj.Name, v.Name, v.ConfigMap.Name, r.Manifests.Dir, v.ConfigMap.Name)
			}
			items = v.ConfigMap.Items
		case v.Secret != nil:
			s, ok := r.Secrets[v.Secret.SecretName]
			if !ok {
				return nil, fmt.Errorf("CronJob %s, volume %s: Secret %s is not in the secrets given", cj.Name, v.Name, v.Secret.SecretName)
			}
			data, items = s, v.Secret.Items
		case v.EmptyDir != nil:
			continue
		default:
			return nil, fmt.Errorf("CronJob %s, volume %s: only configMap, secret and emptyDir volumes run locally", cj.Name, v.Name)
		}
		if len(items) == 0 {
			for k := range data {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			content, ok := data[it.Key]
			if !ok {
				return nil, fmt.Errorf("CronJob %s, volume %s: key %s is missing", cj.Name, v.Name, it.Key)
			}
			path := filepath.Join(dir, filepath.FromSlash(it.Path))
			if !strings.HasPrefix(path, dir+string(filepath.Separator)) {
				return nil, fmt.Errorf("CronJob %s, volume %s: item path %q leaves the volume", cj.Name, v.Name, it.Path)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				return nil, err
			}
		}
	}
	return dirs, nil
}

func (r *Runner) planContainer(cj *batchv1.CronJob, pod string, c corev1.Container, volumes map[string]string) (Process, error) {
	p := Process{Container: c.Name, secret: map[string]bool{}}

	// Mount paths, longest first, so that /scripts/sub wins over /scripts.
	type mount struct{ path, dir string }
	var mounts []mount
	for _, m := range c.VolumeMounts {
		dir, ok := volumes[m.Name]
		if !ok {
			return p, fmt.Errorf("volume mount %s: no volume %s in the pod", m.MountPath, m.Name)
		}
		if m.SubPath != "" {
			dir = filepath.Join(dir, m.SubPath)
		}
		mounts = append(mounts, mount{path: strings.TrimRight(m.MountPath, "/"), dir: dir})
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].path) > len(mounts[j].path) })
	mapPath := func(s string) string {
		for _, m := range mounts {
			if s == m.path {
				return m.dir
			}
			if rest, ok := strings.CutPrefix(s, m.path+"/"); ok {
				return filepath.Join(m.dir, rest)
			}
		}
		return s
	}

	// The image's entrypoint is envsync: args alone, or a command naming it.
	args := append([]string{}, c.Args...)
	if len(c.Command) > 0 {
		if filepath.Base(c.Command[0]) != "envsync" {
			return p, fmt.Errorf("runs %q, not envsync: only the envsync runner runs locally", c.Command[0])
		}
		args = append(append([]string{}, c.Command[1:]...), args...)
	}

	env := map[string]string{}
	set := func(name, value string, secret bool) {
		env[name] = value
		p.secret[name] = secret
	}
	for _, kv := range r.callerEnv() {
		name, value, _ := strings.Cut(kv, "=")
		if passThrough(name) {
			set(name, value, strings.Contains(name, "SECRET") || strings.Contains(name, "TOKEN"))
		}
	}
	// A pod's hostname is its name; the runner labels its metrics with it.
	set("HOSTNAME", pod, false)
	for _, ef := range c.EnvFrom {
		var data map[string]string
		secret := false
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := r.Manifests.ConfigMaps[ef.ConfigMapRef.Name]
			if !ok {
				return p, fmt.Errorf("envFrom: ConfigMap %s is not among the manifests", ef.ConfigMapRef.Name)
			}
			data = cm.Data
		case ef.SecretRef != nil:
			s, ok := r.Secrets[ef.SecretRef.Name]
			if !ok {
				return p, fmt.Errorf("envFrom: Secret %s is not in the secrets given", ef.SecretRef.Name)
			}
			data, secret = s, true
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := data[k]
			if !secret {
				v = mapPath(v)
			}
			set(ef.Prefix+k, v, secret)
		}
	}
	for _, e := range c.Env {
		value, secret, err := r.resolve(cj, pod, e, env)
		if err != nil {
			return p, fmt.Errorf("env %s: %w", e.Name, err)
		}
		// Files the container would find under its mounts.
		if !secret {
			value = mapPath(value)
		}
		set(e.Name, value, secret)
	}
	for i, a := range args {
		args[i] = mapPath(expand(a, env))
	}
	if c.WorkingDir != "" {
		p.Dir = mapPath(c.WorkingDir)
	}
	// The container's writable /tmp (an emptyDir) is the process's TMPDIR.
	if dir := mapPath("/tmp"); dir != "/tmp" {
		set("TMPDIR", dir, false)
	}

	if err := r.Overrides.apply(env, args); err != nil {
		return p, err
	}
	if env["SCRATCH_USER"] != "" {
		// A publish reaches the local scratch server as its user.
		ep, ok := r.Overrides.Scratch[env["DB_ENGINE"]]
		if !ok {
			return p, fmt.Errorf("it publishes through a scratch %s server: give a local one with --scratch %s=HOST:PORT", env["DB_ENGINE"], env["DB_ENGINE"])
		}
		env["SCRATCH_HOST"], env["SCRATCH_PORT"] = ep.Host, strconv.Itoa(ep.Port)
		env["SCRATCH_USER"] = r.Secrets[ScratchSecret(env["DB_ENGINE"])]["username"]
	}

	for name, v := range env {
		p.Env = append(p.Env, name+"="+v)
	}
	sort.Strings(p.Env)
	p.Args = args
	return p, nil
}

// resolve gives an env var's value as the kubelet would.
func (r *Runner) resolve(cj *batchv1.CronJob, pod string, e corev1.EnvVar, env map[string]string) (value string, secret bool, err error) {
	if e.ValueFrom == nil {
		return expand(e.Value, env), false, nil
	}
	vf := e.ValueFrom
	switch {
	case vf.SecretKeyRef != nil:
		v, ok := r.Secrets.lookup(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)
		if !ok {
			if r.PlanOnly || vf.SecretKeyRef.Optional != nil && *vf.SecretKeyRef.Optional {
				return "", true, nil
			}
			return "", true, fmt.Errorf("Secret %s has no key %s in the secrets given", vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)
		}
		return v, true, nil
	case vf.ConfigMapKeyRef != nil:
		cm, ok := r.Manifests.ConfigMaps[vf.ConfigMapKeyRef.Name]
		if ok {
			if v, ok := cm.Data[vf.ConfigMapKeyRef.Key]; ok {
				return v, false, nil
			}
		}
		if vf.ConfigMapKeyRef.Optional != nil && *vf.ConfigMapKeyRef.Optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("ConfigMap %s has no key %s among the manifests", vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key)
	case vf.FieldRef != nil:
		switch vf.FieldRef.FieldPath {
		case "metadata.name", "spec.hostname":
			return pod, false, nil
		case "metadata.namespace":
			return cj.Namespace, false, nil
		case "spec.nodeName":
			h, _ := os.Hostname()
			return h, false, nil
		case "status.podIP", "status.hostIP":
			return "127.0.0.1", false, nil
		case "spec.serviceAccountName":
			return cj.Spec.JobTemplate.Spec.Template.Spec.ServiceAccountName, false, nil
		}
		return "", false, fmt.Errorf("fieldRef %s has no local value", vf.FieldRef.FieldPath)
	case vf.ResourceFieldRef != nil:
		return "", false, fmt.Errorf("resourceFieldRef %s has no local value", vf.ResourceFieldRef.Resource)
	}
	return "", false, fmt.Errorf("valueFrom without a source")
}

// expand replaces $(NAME) with earlier variables, as Kubernetes does; $$
// escapes, and unknown references stay as written.
func expand(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) {
			if s[i+1] == '$' {
				b.WriteByte('$')
				i++
				continue
			}
			if s[i+1] == '(' {
				if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
					name := s[i+2 : i+2+end]
					if v, ok := env[name]; ok {
						b.WriteString(v)
						i += 2 + end
						continue
					}
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// apply changes env as the overrides say.
func (o Overrides) apply(env map[string]string, args []string) error {
	if len(o.Databases) > 0 {
		key := env["DB_INSTANCE"]
		if key == "" {
			key = env["DB_HOST"]
		}
		switch ep, ok := o.Databases[key]; {
		case ok && env["DB_ENGINE"] == "opensearch":
			// A search cluster is reached at its URL.
			env["DB_HOST"] = "http://" + net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))
		case ok:
			env["DB_HOST"] = ep.Host
			env["DB_PORT"] = strconv.Itoa(ep.Port)
		case env["DB_HOST"] != "":
			return fmt.Errorf("no local database given for instance %q (add --db %s=HOST:PORT)", key, key)
		}
	}
	if o.S3Endpoint != "" {
		env["AWS_ENDPOINT_URL_S3"] = o.S3Endpoint
	}
	if o.BucketsDir != "" {
		if name, ok := strings.CutPrefix(env["BUCKET"], "s3://"); ok {
			env["BUCKET"] = "file://" + filepath.Join(o.BucketsDir, name)
		}
	}
	if o.Pushgateway != "" {
		env["PROMETHEUS_PUSHGATEWAY_URL"] = o.Pushgateway
	}
	for k, v := range o.Env {
		env[k] = v
	}
	if o.Filename != "" && slices.Contains(args, "restore") {
		env["FILENAME"] = o.Filename
	}
	return nil
}

func (r *Runner) callerEnv() []string {
	if r.CallerEnv != nil {
		return r.CallerEnv
	}
	return os.Environ()
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// Run runs one CronJob: its containers in order, each to completion, stopping
// at the first that fails, as a pod with restartPolicy Never does. A
// suspended CronJob returns ErrSuspended unless the Runner forces it.
func (r *Runner) Run(ctx context.Context, cj *batchv1.CronJob) error {
	work, err := os.MkdirTemp("", "envsync-local-"+cj.Name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	plan, err := r.PlanJob(cj, work)
	if err != nil {
		return err
	}
	log := r.log().With("job", plan.Job, "pod", plan.Pod)
	if plan.Suspended && !r.Force {
		log.Info("skipping suspended CronJob (force to run it)")
		return fmt.Errorf("job %s: %w", plan.Job, ErrSuspended)
	}
	if plan.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, plan.Deadline)
		defer cancel()
	}
	for _, p := range plan.Processes {
		start := time.Now()
		log.Info("container starting", "container", p.Container, "args", p.Args)
		cmd := exec.CommandContext(ctx, r.Binary, p.Args...)
		cmd.Env = p.Env
		cmd.Dir = p.Dir
		cmd.Stdout, cmd.Stderr = r.Stdout, r.Stderr
		if cmd.Stdout == nil {
			cmd.Stdout = os.Stdout
		}
		if cmd.Stderr == nil {
			cmd.Stderr = os.Stderr
		}
		// Like the kubelet past activeDeadlineSeconds: SIGTERM, then a grace.
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 30 * time.Second
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%v)", err, ctx.Err())
			}
			log.Error("container failed", "container", p.Container, "err", err, "seconds", time.Since(start).Seconds())
			return &ContainerError{Job: plan.Job, Container: p.Container, Err: err}
		}
		log.Info("container succeeded", "container", p.Container, "seconds", time.Since(start).Seconds())
	}
	return nil
}
