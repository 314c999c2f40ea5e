{{/*
Helpers shared by every template. This folder is copied verbatim by cookiecutter
(no Jinja here): project-specific defaults live in values.yaml and Chart.yaml.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "extractor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name (DNS label, 63 chars max). */}}
{{- define "extractor.fullname" -}}
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

{{- define "extractor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "extractor.labels" -}}
helm.sh/chart: {{ include "extractor.chart" . }}
{{ include "extractor.selectorLabels" . }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | trunc 63 | quote }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: {{ include "extractor.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels: stable across upgrades, never add to these. */}}
{{- define "extractor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "extractor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "extractor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "extractor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "extractor.imageRef" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Replicas the availability rules are computed for (the autoscaler floor when one is on). */}}
{{- define "extractor.minReplicas" -}}
{{- if .Values.autoscaling.keda.enabled }}
{{- /* null means "same as replicaCount"; 0 is a real value (scale to zero) */}}
{{- if kindIs "invalid" .Values.autoscaling.keda.minReplicas }}{{ .Values.replicaCount }}{{ else }}{{ .Values.autoscaling.keda.minReplicas }}{{ end }}
{{- else if .Values.autoscaling.hpa.enabled }}
{{- if kindIs "invalid" .Values.autoscaling.hpa.minReplicas }}{{ .Values.replicaCount }}{{ else }}{{ .Values.autoscaling.hpa.minReplicas }}{{ end }}
{{- else }}
{{- .Values.replicaCount }}
{{- end }}
{{- end }}

{{/* PDB minAvailable: explicit value, else replicas - 1 so drains evict one worker at a time. */}}
{{- define "extractor.pdbMinAvailable" -}}
{{- if ne (toString .Values.podDisruptionBudget.minAvailable) "" }}
{{- .Values.podDisruptionBudget.minAvailable }}
{{- else }}
{{- sub (include "extractor.minReplicas" . | int) 1 }}
{{- end }}
{{- end }}

{{/* Seconds Kubernetes waits after SIGTERM: always longer than the worker's own drain. */}}
{{- define "extractor.terminationGracePeriodSeconds" -}}
{{- add (.Values.worker.gracefulShutdownSeconds | int) (.Values.worker.shutdownBufferSeconds | int) }}
{{- end }}

{{/* Worker deployment version fields (used by the ConfigMap and the KEDA trigger). */}}
{{- define "extractor.deploymentName" -}}
{{- default (include "extractor.fullname" .) .Values.worker.versioning.deploymentName }}
{{- end }}

{{- define "extractor.buildId" -}}
{{- if .Values.worker.versioning.buildId }}
{{- .Values.worker.versioning.buildId }}
{{- else if .Values.image.digest }}
{{- .Values.image.digest | trimPrefix "sha256:" | trunc 32 }}
{{- else }}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}
{{- end }}

{{- define "extractor.tlsMountPath" -}}
/var/run/secrets/temporal-tls
{{- end }}
