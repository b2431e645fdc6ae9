{{/*
queue-telemetry.name: the chart name, or nameOverride; at most 63 characters.
*/}}
{{- define "queue-telemetry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
queue-telemetry.fullname: "<release>-<name>" (or fullnameOverride), the prefix of every resource
name; the release name alone when it already contains the chart name.
*/}}
{{- define "queue-telemetry.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
queue-telemetry.chart: "<chart>-<version>" for the helm.sh/chart label.
*/}}
{{- define "queue-telemetry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
queue-telemetry.selectorLabels: the immutable labels a workload's selector matches. Called with
a dict: {"context": $, "component": "collector" | "receiver"}.
*/}}
{{- define "queue-telemetry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "queue-telemetry.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
queue-telemetry.labels: every label a resource carries: the selector labels plus chart,
version, manager and commonLabels. Called with the same dict as selectorLabels.
*/}}
{{- define "queue-telemetry.labels" -}}
helm.sh/chart: {{ include "queue-telemetry.chart" .context }}
{{ include "queue-telemetry.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: queue-telemetry
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- with .context.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
queue-telemetry.collector.fullname: name of the collector's resources.
*/}}
{{- define "queue-telemetry.collector.fullname" -}}
{{- printf "%s-collector" (include "queue-telemetry.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
queue-telemetry.receiver.fullname: name of the receiver's resources.
*/}}
{{- define "queue-telemetry.receiver.fullname" -}}
{{- printf "%s-receiver" (include "queue-telemetry.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
queue-telemetry.receiver.headlessName: the headless Service listing every receiver pod, which
the load-balancing collector configuration resolves.
*/}}
{{- define "queue-telemetry.receiver.headlessName" -}}
{{- printf "%s-headless" (include "queue-telemetry.receiver.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
queue-telemetry.collector.serviceAccountName: the ServiceAccount the collector runs as.
*/}}
{{- define "queue-telemetry.collector.serviceAccountName" -}}
{{- if .Values.collector.serviceAccount.create }}
{{- default (include "queue-telemetry.collector.fullname" .) .Values.collector.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.collector.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
queue-telemetry.receiver.serviceAccountName: the ServiceAccount the receiver runs as.
*/}}
{{- define "queue-telemetry.receiver.serviceAccountName" -}}
{{- if .Values.receiver.serviceAccount.create }}
{{- default (include "queue-telemetry.receiver.fullname" .) .Values.receiver.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.receiver.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
queue-telemetry.receiver.image: "<repository>:<tag>", the tag defaulting to appVersion.
*/}}
{{- define "queue-telemetry.receiver.image" -}}
{{- printf "%s:%s" .Values.receiver.image.repository (default .Chart.AppVersion .Values.receiver.image.tag) }}
{{- end }}

{{/*
queue-telemetry.collector.configFile: the collector configuration file in files/ for the
chosen collector.routing.
*/}}
{{- define "queue-telemetry.collector.configFile" -}}
{{- if eq .Values.collector.routing "loadBalancing" }}files/collector-loadbalancing.yaml{{ else }}files/collector.yaml{{ end }}
{{- end }}

{{/*
queue-telemetry.validate: stops rendering with a message naming the values to change when
settings contradict each other.
*/}}
{{- define "queue-telemetry.validate" -}}
{{- $scaled := or .Values.receiver.autoscaling.enabled (gt (int .Values.receiver.replicas) 1) }}
{{- if and .Values.collector.enabled $scaled (ne .Values.collector.routing "loadBalancing") }}
{{- fail "receiver.replicas > 1 or receiver.autoscaling.enabled needs collector.routing: loadBalancing, so that each service's data reaches one receiver replica" }}
{{- end }}
{{- if and .Values.receiver.autoscaling.enabled (gt (int .Values.receiver.autoscaling.minReplicas) (int .Values.receiver.autoscaling.maxReplicas)) }}
{{- fail "receiver.autoscaling.minReplicas must not exceed receiver.autoscaling.maxReplicas" }}
{{- end }}
{{- end }}
