package kube

import (
	"fmt"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/envsync/envsync/model"
)

// Label keys of every object envsync emits.
const (
	LabelSync        = "envsync.io/sync"
	LabelInstance    = "envsync.io/instance"
	LabelEngine      = "envsync.io/engine"
	LabelEnvironment = model.LabelEnvironment
)

// TerminationGracePeriodSeconds is how long a job's pod has between
// SIGTERM (its deadline passed, or it is being evicted) and SIGKILL. The
// runner then stops its child tool, drops its shadow (each clean-up step
// is bounded at a minute), lets live accept connections again, aborts an
// unfinished upload and pushes state 0 (bounded at 10 s): three minutes
// cover the worst case, where Kubernetes' default of 30 s would cut a slow
// DROP DATABASE short and leave the clean-up to the next run.
const TerminationGracePeriodSeconds int64 = 180

// CronJobs returns the CronJobs of environment env, sorted by name: one per
// sync that runs there, none for a sync whose job is ensure: absent.
func CronJobs(e *model.Estate, env string) ([]batchv1.CronJob, error) {
	v, err := Values(e, env)
	if err != nil {
		return nil, err
	}
	return renderCronJobs(v), nil
}

// Objects are what chart/envsync renders from one environment's values,
// built in Go from the same plan.
type Objects struct {
	CronJobs        []batchv1.CronJob      // sorted by name
	ServiceAccount  *corev1.ServiceAccount // nil: none to create
	ExternalSecrets []ExternalSecret       // sorted by name
	Scripts         *corev1.ConfigMap      // nil: no script is used
}

// Render builds every object of the plan v.
func Render(v *HelmValues) Objects {
	return Objects{
		CronJobs:        renderCronJobs(v),
		ServiceAccount:  renderServiceAccount(v),
		ExternalSecrets: renderExternalSecrets(v),
		Scripts:         renderConfigMap(v),
	}
}

func commonLabels(v *HelmValues) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "envsync",
		"app.kubernetes.io/managed-by": "envsync",
		LabelEnvironment:               v.Environment,
	}
}

func jobLabels(v *HelmValues, j Job) map[string]string {
	l := commonLabels(v)
	l["app.kubernetes.io/component"] = j.Sync
	l[LabelSync] = j.Sync
	l[LabelInstance] = j.Instance
	l[LabelEngine] = j.Engine
	return l
}

// renderCronJobs is the Go rendering of the plan; chart/envsync's
// templates/cronjob.yaml is the Helm one and must give the same objects.
func renderCronJobs(v *HelmValues) []batchv1.CronJob {
	out := make([]batchv1.CronJob, 0, len(v.Jobs))
	for _, j := range v.Jobs {
		out = append(out, renderCronJob(v, j))
	}
	return out
}

func renderCronJob(v *HelmValues, j Job) batchv1.CronJob {
	usesScripts := false
	for _, c := range j.Containers {
		if c.SanitiseScript != "" {
			usesScripts = true
		}
	}
	tmp := &corev1.EmptyDirVolumeSource{}
	if s := j.Resources.Requests.EphemeralStorage; s != "" {
		tmp.SizeLimit = ptr.To(resource.MustParse(s)) // checked by Values
	}
	volumes := []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: tmp}}}
	mounts := []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}
	if usesScripts {
		volumes = append(volumes, corev1.Volume{Name: "scripts", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: v.Scripts.ConfigMap}},
		}})
		mounts = append(mounts, corev1.VolumeMount{Name: "scripts", MountPath: v.Scripts.MountPath, ReadOnly: true})
	}
	if ca := j.CA; ca != nil {
		src := corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: ca.ConfigMap}}}
		if ca.Secret != "" {
			src = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: ca.Secret}}
		}
		volumes = append(volumes, corev1.Volume{Name: "ca", VolumeSource: src})
		mounts = append(mounts, corev1.VolumeMount{Name: "ca", MountPath: v.CAMountPath, ReadOnly: true})
	}
	var sidecars []corev1.Container
	if sc := j.Scratch; sc != nil {
		var scratchVolumes []corev1.Volume
		sidecars, scratchVolumes = scratchContainers(v, j, sc)
		volumes = append(volumes, scratchVolumes...)
		mounts = append(mounts, corev1.VolumeMount{Name: "scratch-secret", MountPath: sc.SecretPath, ReadOnly: true})
	}

	// Containers of a pod run side by side; init containers run one after
	// another and stop at the first failure. So every operation but the last
	// is an init container, and the last is the pod's container.
	var containers []corev1.Container
	for _, c := range j.Containers {
		containers = append(containers, corev1.Container{
			Name:         c.Name,
			Image:        v.Image,
			Command:      []string{RunnerCommand},
			Args:         []string{"run", c.Operation},
			Env:          containerEnv(v, j, c),
			Resources:    resources(j.Resources),
			VolumeMounts: mounts,
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		})
	}
	last := len(containers) - 1
	initContainers := containers[:last]
	if sidecars != nil {
		initContainers = append(sidecars, initContainers...)
	}

	labels := jobLabels(v, j)
	return batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: j.Name, Namespace: v.Namespace, Labels: labels},
		Spec: batchv1.CronJobSpec{
			Schedule:                   j.Schedule,
			TimeZone:                   ptr.To(v.Defaults.TimeZone),
			Suspend:                    ptr.To(j.Suspend),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    ptr.To(v.Defaults.StartingDeadlineSeconds),
			SuccessfulJobsHistoryLimit: ptr.To(v.Defaults.SuccessfulJobsHistoryLimit),
			FailedJobsHistoryLimit:     ptr.To(v.Defaults.FailedJobsHistoryLimit),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: batchv1.JobSpec{
					BackoffLimit:          ptr.To[int32](0),
					ActiveDeadlineSeconds: ptr.To(j.ActiveDeadlineSeconds),
					// A pod evicted or preempted is not the job's failure:
					// ignore it and let the Job start a new pod.
					PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
						Action:          batchv1.PodFailurePolicyActionIgnore,
						OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
					}}},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{
							Labels:      labels,
							Annotations: podAnnotations(v),
						},
						Spec: corev1.PodSpec{
							RestartPolicy:                 corev1.RestartPolicyNever,
							TerminationGracePeriodSeconds: ptr.To(v.Defaults.TerminationGracePeriodSeconds),
							ServiceAccountName:            serviceAccountName(v),
							// The runner needs no Service's address in its
							// environment; a namespace with many Services
							// would only lengthen it.
							EnableServiceLinks: ptr.To(false),
							DNSConfig:          v.DNSConfig,
							// The runner never calls the Kubernetes API. EKS
							// IRSA does not need this token either: its
							// webhook mounts a projected token of its own
							// (AWS_WEB_IDENTITY_TOKEN_FILE) into pods whose
							// ServiceAccount has the role-arn annotation.
							AutomountServiceAccountToken: ptr.To(false),
							SecurityContext: &corev1.PodSecurityContext{
								RunAsNonRoot:   ptr.To(true),
								RunAsUser:      ptr.To(v.Defaults.RunAsUser),
								RunAsGroup:     ptr.To(v.Defaults.RunAsUser),
								FSGroup:        ptr.To(v.Defaults.RunAsUser),
								SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
							},
							InitContainers: initContainers,
							Containers:     containers[last:],
							Volumes:        volumes,
						},
					},
				},
			},
		},
	}
}

// scratchContainers are a publishing job's first init containers and
// their volumes: scratch-password writes a password made for this pod into
// a memory-backed volume, then scratch, the scratch server, starts from it
// and runs beside the operations (restartPolicy Always) until the pod's
// last container ends.
func scratchContainers(v *HelmValues, j Job, sc *Scratch) ([]corev1.Container, []corev1.Volume) {
	locked := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	volumes := []corev1.Volume{
		{Name: "scratch-secret", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("1Mi"))}}},
		{Name: "scratch-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			SizeLimit: ptr.To(resource.MustParse(sc.Size))}}}, // checked by Values
	}
	mounts := []corev1.VolumeMount{
		{Name: "tmp", MountPath: "/tmp"},
		{Name: "scratch-secret", MountPath: sc.SecretPath, ReadOnly: true},
		{Name: "scratch-data", MountPath: sc.DataDir},
	}
	for i, dir := range sc.RunDirs {
		name := fmt.Sprintf("scratch-run-%d", i)
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: dir})
	}
	var env []corev1.EnvVar
	for _, e := range sc.Env {
		env = append(env, corev1.EnvVar{Name: e.Name, Value: strings.ReplaceAll(e.Value, "$", "$$")})
	}
	server := resources(j.Resources)
	if server.Requests == nil {
		server.Requests = corev1.ResourceList{}
	}
	server.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse(sc.Size)
	return []corev1.Container{
		{
			Name:            "scratch-password",
			Image:           v.Image,
			Command:         []string{RunnerCommand},
			Args:            []string{"scratch-password", sc.PasswordFile},
			VolumeMounts:    []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}, {Name: "scratch-secret", MountPath: sc.SecretPath}},
			SecurityContext: locked,
		},
		{
			Name:            "scratch",
			Image:           sc.Image,
			Args:            sc.Args,
			Env:             env,
			RestartPolicy:   ptr.To(corev1.ContainerRestartPolicyAlways),
			Resources:       server,
			VolumeMounts:    mounts,
			SecurityContext: locked,
		},
	}, volumes
}

// containerEnv is the runner's environment for one container, in the
// runner contract's order: credentials come from the job's Secret, never
// inline; the sync's extra env comes last, sorted by name.
func containerEnv(v *HelmValues, j Job, c Container) []corev1.EnvVar {
	// Kubernetes expands $(NAME) in a value ("x$(DB_PASSWORD)" would put the
	// password in a metric label); $$ is its escape for a literal $.
	lit := func(name, value string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, Value: strings.ReplaceAll(value, "$", "$$")}
	}
	secret := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: j.Secret}, Key: key,
		}}}
	}
	env := []corev1.EnvVar{lit("DB_ENGINE", j.Engine), lit("DB_HOST", j.Host)}
	if j.Port != 0 {
		env = append(env, lit("DB_PORT", strconv.Itoa(j.Port)))
	}
	if j.Secret != "" {
		env = append(env, secret("DB_USER", "username"), secret("DB_PASSWORD", "password"))
	}
	env = append(env, lit("DB_DATABASE", c.Database))
	if j.Owner != "" {
		env = append(env, lit("DB_OWNER", j.Owner))
	}
	if j.SSLMode != "" {
		env = append(env, lit("DB_SSLMODE", j.SSLMode))
	}
	if j.CA != nil {
		env = append(env, lit("DB_SSLROOTCERT", v.CAMountPath+"/"+j.CA.Key))
	}
	env = append(env, lit("DB_INSTANCE", j.Instance))
	if c.Bucket != "" {
		env = append(env, lit("BUCKET", c.Bucket))
	}
	if c.SnapshotRepository != "" {
		env = append(env, lit("SNAPSHOT_REPOSITORY", c.SnapshotRepository), lit("SNAPSHOTS_KEEP", strconv.Itoa(j.KeepSnapshots)))
	}
	if j.SearchAuth != "" {
		env = append(env, lit("SEARCH_AUTH", j.SearchAuth))
	}
	env = append(env, lit("ENVIRONMENT", v.Environment))
	if c.SanitiseScript != "" {
		env = append(env, lit("SANITISE_SCRIPT", fmt.Sprintf("%s/%s", v.Scripts.MountPath, c.SanitiseScript)))
	}
	if c.Classification != "" {
		env = append(env, lit("CLASSIFICATION", fmt.Sprintf("%s/%s", v.Scripts.MountPath, c.Classification)))
	}
	if c.Operation == string(model.Publish) && j.Scratch != nil {
		env = append(env, lit("SCRATCH_USER", j.Scratch.User), lit("SCRATCH_PASSWORD_FILE", j.Scratch.PasswordFile))
	}
	if c.RawBucket != "" {
		env = append(env, lit("RAW_BUCKET", c.RawBucket))
	}
	if c.DumpFormat != "" {
		env = append(env, lit("ENVSYNC_DUMP_FORMAT", c.DumpFormat))
	}
	if c.KeepDumps > 0 {
		env = append(env, lit("ENVSYNC_KEEP_DUMPS", strconv.Itoa(c.KeepDumps)))
	}
	if c.KeepDays > 0 {
		env = append(env, lit("ENVSYNC_KEEP_DAYS", strconv.Itoa(c.KeepDays)))
	}
	if j.AllowProductionRestore && (c.Operation == string(model.Restore) || c.Operation == string(model.Transform)) {
		env = append(env, lit("REALLY_RESTORE_ONTO_PRODUCTION", "true"))
	}
	if v.PushgatewayURL != "" {
		env = append(env, lit("PROMETHEUS_PUSHGATEWAY_URL", v.PushgatewayURL))
	}
	for _, e := range j.Env {
		env = append(env, lit(e.Name, e.Value))
	}
	return env
}

func resources(r Resources) corev1.ResourceRequirements {
	list := func(l ResourceList) corev1.ResourceList {
		out := corev1.ResourceList{}
		if l.CPU != "" {
			out[corev1.ResourceCPU] = resource.MustParse(l.CPU) // checked by Values
		}
		if l.Memory != "" {
			out[corev1.ResourceMemory] = resource.MustParse(l.Memory)
		}
		if l.EphemeralStorage != "" {
			out[corev1.ResourceEphemeralStorage] = resource.MustParse(l.EphemeralStorage)
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return corev1.ResourceRequirements{Requests: list(r.Requests), Limits: list(r.Limits)}
}

func serviceAccountName(v *HelmValues) string {
	if v.ServiceAccount == nil {
		return ""
	}
	return v.ServiceAccount.Name
}

// ServiceAccountObject is the ServiceAccount of env's jobs when envsync creates
// it; nil when the environment names none or the cluster owns it.
func ServiceAccountObject(e *model.Estate, env string) (*corev1.ServiceAccount, error) {
	v, err := Values(e, env)
	if err != nil {
		return nil, err
	}
	return renderServiceAccount(v), nil
}

// renderServiceAccount is the Go rendering; chart/envsync's
// templates/serviceaccount.yaml is the Helm one.
func renderServiceAccount(v *HelmValues) *corev1.ServiceAccount {
	sa := v.ServiceAccount
	if sa == nil || !sa.Create {
		return nil
	}
	return &corev1.ServiceAccount{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{
			Name: sa.Name, Namespace: v.Namespace, Labels: commonLabels(v), Annotations: sa.Annotations,
		},
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// podAnnotations are the environment's, and the one that keeps the cluster
// autoscaler from evicting a pod: a restore half done is costly.
func podAnnotations(v *HelmValues) map[string]string {
	a := map[string]string{"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
	for k, val := range v.PodAnnotations {
		a[k] = val
	}
	return a
}
