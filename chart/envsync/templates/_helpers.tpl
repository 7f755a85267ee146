{{/*
Labels of every object: the chart's name, who manages it, the environment.
Argument: the root context.
*/}}
{{- define "envsync.labels" -}}
app.kubernetes.io/managed-by: envsync
app.kubernetes.io/name: envsync
envsync.io/environment: {{ .Values.environment | quote }}
{{- end }}

{{/*
Labels of a job's CronJob, Job and pod. Argument: dict "root" "job".
*/}}
{{- define "envsync.jobLabels" -}}
{{ include "envsync.labels" .root }}
app.kubernetes.io/component: {{ .job.sync | quote }}
envsync.io/engine: {{ .job.engine | quote }}
envsync.io/instance: {{ .job.instance | quote }}
envsync.io/sync: {{ .job.sync | quote }}
{{- end }}

{{/*
The runner contract's environment of one container, in the contract's
order; credentials come from the job's Secret, never inline.
Argument: dict "root" "job" "container".
*/}}
{{- /* Every literal value has $ doubled: Kubernetes expands $(NAME) in env
values, and a declared value must reach the runner as written. */ -}}
{{- define "envsync.env" -}}
{{- $v := .root.Values -}}
{{- $j := .job -}}
{{- $c := .container -}}
- name: DB_ENGINE
  value: {{ $j.engine | replace "$" "$$" | quote }}
- name: DB_HOST
  value: {{ $j.host | replace "$" "$$" | quote }}
{{- if $j.port }}
- name: DB_PORT
  value: {{ $j.port | int64 | toString | quote }}
{{- end }}
{{- if $j.secret }}
- name: DB_USER
  valueFrom:
    secretKeyRef:
      name: {{ $j.secret | quote }}
      key: username
- name: DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $j.secret | quote }}
      key: password
{{- end }}
- name: DB_DATABASE
  value: {{ $c.database | replace "$" "$$" | quote }}
{{- if $j.owner }}
- name: DB_OWNER
  value: {{ $j.owner | replace "$" "$$" | quote }}
{{- end }}
{{- if $j.sslMode }}
- name: DB_SSLMODE
  value: {{ $j.sslMode | replace "$" "$$" | quote }}
{{- end }}
{{- with $j.ca }}
- name: DB_SSLROOTCERT
  value: {{ printf "%s/%s" $v.caMountPath .key | replace "$" "$$" | quote }}
{{- end }}
- name: DB_INSTANCE
  value: {{ $j.instance | replace "$" "$$" | quote }}
{{- if $c.bucket }}
- name: BUCKET
  value: {{ $c.bucket | replace "$" "$$" | quote }}
{{- end }}
{{- if $c.snapshotRepository }}
- name: SNAPSHOT_REPOSITORY
  value: {{ $c.snapshotRepository | replace "$" "$$" | quote }}
- name: SNAPSHOTS_KEEP
  value: {{ $j.keepSnapshots | int64 | toString | quote }}
{{- end }}
{{- if $j.searchAuth }}
- name: SEARCH_AUTH
  value: {{ $j.searchAuth | quote }}
{{- end }}
- name: ENVIRONMENT
  value: {{ $v.environment | replace "$" "$$" | quote }}
{{- if $c.sanitiseScript }}
- name: SANITISE_SCRIPT
  value: {{ printf "%s/%s" $v.scripts.mountPath $c.sanitiseScript | replace "$" "$$" | quote }}
{{- end }}
{{- if $c.classification }}
- name: CLASSIFICATION
  value: {{ printf "%s/%s" $v.scripts.mountPath $c.classification | replace "$" "$$" | quote }}
{{- end }}
{{- if and (eq $c.operation "publish") $j.scratch }}
- name: SCRATCH_USER
  value: {{ $j.scratch.user | replace "$" "$$" | quote }}
- name: SCRATCH_PASSWORD_FILE
  value: {{ $j.scratch.passwordFile | replace "$" "$$" | quote }}
{{- end }}
{{- if $c.rawBucket }}
- name: RAW_BUCKET
  value: {{ $c.rawBucket | replace "$" "$$" | quote }}
{{- end }}
{{- if $c.dumpFormat }}
- name: ENVSYNC_DUMP_FORMAT
  value: {{ $c.dumpFormat | replace "$" "$$" | quote }}
{{- end }}
{{- if $c.keepDumps }}
- name: ENVSYNC_KEEP_DUMPS
  value: {{ $c.keepDumps | toString | quote }}
{{- end }}
{{- if $c.keepDays }}
- name: ENVSYNC_KEEP_DAYS
  value: {{ $c.keepDays | toString | quote }}
{{- end }}
{{- if and $j.allowProductionRestore (has $c.operation (list "restore" "transform")) }}
- name: REALLY_RESTORE_ONTO_PRODUCTION
  value: "true"
{{- end }}
{{- if $v.pushgatewayURL }}
- name: PROMETHEUS_PUSHGATEWAY_URL
  value: {{ $v.pushgatewayURL | replace "$" "$$" | quote }}
{{- end }}
{{- range $j.env }}
- name: {{ .name | quote }}
  value: {{ .value | replace "$" "$$" | quote }}
{{- end }}
{{- end }}

{{/*
One container running one operation. Argument: dict "root" "job"
"container" "usesScripts".
*/}}
{{- define "envsync.container" -}}
- name: {{ .container.name | quote }}
  image: {{ .root.Values.image | quote }}
  command: ["envsync"]
  args: ["run", {{ .container.operation | quote }}]
  env:
    {{- include "envsync.env" . | nindent 4 }}
  {{- with .job.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop: ["ALL"]
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- if .usesScripts }}
    - name: scripts
      mountPath: {{ .root.Values.scripts.mountPath | quote }}
      readOnly: true
    {{- end }}
    {{- if .job.ca }}
    - name: ca
      mountPath: {{ .root.Values.caMountPath | quote }}
      readOnly: true
    {{- end }}
    {{- with .job.scratch }}
    - name: scratch-secret
      mountPath: {{ .secretPath | quote }}
      readOnly: true
    {{- end }}
{{- end }}

{{/*
A publishing job's scratch server, first of its init containers:
scratch-password writes a password made for this pod into a
memory-backed volume; scratch, the server, starts from it and runs beside
the operations (restartPolicy Always: a native sidecar). Argument: dict
"root" "job" "scratch".
*/}}
{{- define "envsync.scratch" -}}
- name: scratch-password
  image: {{ .root.Values.image | quote }}
  command: ["envsync"]
  args: ["scratch-password", {{ .scratch.passwordFile | quote }}]
  securityContext:
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop: ["ALL"]
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: scratch-secret
      mountPath: {{ .scratch.secretPath | quote }}
- name: scratch
  image: {{ .scratch.image | quote }}
  restartPolicy: Always
  {{- with .scratch.args }}
  args:
    {{- range . }}
    - {{ . | quote }}
    {{- end }}
  {{- end }}
  env:
    {{- range .scratch.env }}
    - name: {{ .name | quote }}
      value: {{ .value | replace "$" "$$" | quote }}
    {{- end }}
  {{- $res := deepCopy (.job.resources | default dict) }}
  {{- $_ := set $res "requests" (merge (dict "ephemeral-storage" .scratch.size) (get $res "requests" | default dict)) }}
  resources:
    {{- toYaml $res | nindent 4 }}
  securityContext:
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop: ["ALL"]
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: scratch-secret
      mountPath: {{ .scratch.secretPath | quote }}
      readOnly: true
    - name: scratch-data
      mountPath: {{ .scratch.dataDir | quote }}
    {{- range $i, $dir := .scratch.runDirs }}
    - name: {{ printf "scratch-run-%d" $i | quote }}
      mountPath: {{ $dir | quote }}
    {{- end }}
{{- end }}
