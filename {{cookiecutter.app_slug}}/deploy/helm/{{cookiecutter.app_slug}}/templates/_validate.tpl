{{/*
Refusals: values that would install a deployment that looks healthy but cannot work.
Included once, from deployment.yaml, so `helm lint`, `helm template` and `helm install`
all stop with the message before anything reaches the cluster.
*/}}

{{/* True ("true") when output.url is an object store (s3://, gs://, az://). */}}
{{- define "extractor.outputIsObjectStore" -}}
{{- if regexMatch "^(s3|gs|az)://" .Values.output.url }}true{{ end }}
{{- end }}

{{/* OUTPUT_URL: output.url, else the mounted volume as file://<mountPath>. */}}
{{- define "extractor.outputUrl" -}}
{{- default (printf "file://%s" .Values.output.mountPath) .Values.output.url }}
{{- end }}

{{/* True when more than one worker can run: replicas > 1 or an autoscaler. */}}
{{- define "extractor.multiWorker" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.autoscaling.hpa.enabled .Values.autoscaling.keda.enabled }}true{{ end }}
{{- end }}

{{/* Ports of the PostgreSQL state store, comma-separated (URL ports, default 5432); empty for SQLite. */}}
{{- define "extractor.stateStorePorts" -}}
{{- $url := .Values.stateStore.url }}
{{- if hasPrefix "postgresql" $url }}
{{- $authority := regexReplaceAll "^[^:]*://([^/?#]*).*$" $url "${1}" }}
{{- $hosts := regexReplaceAll "^.*@" $authority "" }}
{{- $ports := list }}
{{- range splitList "," $hosts }}
{{- $ports = append $ports (default "5432" (regexFind ":[0-9]+$" . | trimPrefix ":")) }}
{{- end }}
{{- $ports | uniq | join "," }}
{{- end }}
{{- end }}

{{/* Ports of the object store, comma-separated: 443, plus output.endpoint's own port. */}}
{{- define "extractor.objectStorePorts" -}}
{{- if include "extractor.outputIsObjectStore" . }}
{{- $ports := list "443" }}
{{- with .Values.output.endpoint }}
{{- $authority := regexReplaceAll "^.*@" (regexReplaceAll "^[^:]*://([^/?#]*).*$" . "${1}") "" }}
{{- $port := regexFind ":[0-9]+$" $authority | trimPrefix ":" }}
{{- $ports = append $ports (default (ternary "80" "443" (hasPrefix "http://" .)) $port) }}
{{- end }}
{{- $ports | uniq | join "," }}
{{- end }}
{{- end }}

{{- define "extractor.validate" -}}
{{- $v := .Values }}
{{- if and $v.autoscaling.hpa.enabled $v.autoscaling.keda.enabled }}
{{- fail "enable at most one of autoscaling.hpa and autoscaling.keda (KEDA manages its own HPA)" }}
{{- end }}

{{- /* Settings that moved out of config. */}}
{{- if hasKey $v.config "OUTPUT_DIR" }}
{{- fail "config.OUTPUT_DIR is no longer read: the worker writes to OUTPUT_URL, set from output.url (s3://bucket/prefix, gs://..., az://...) or, when empty, file://<output.mountPath>" }}
{{- end }}
{{- if hasKey $v.config "STATE_STORE_URL" }}
{{- fail "config.STATE_STORE_URL moved to stateStore.url" }}
{{- end }}

{{- /* Secrets never in values: the URL lands in a ConfigMap. */}}
{{- if or (regexMatch "^[^:]*://[^/@:]*:[^@]*@" $v.stateStore.url) (regexMatch "(?i)[?&]password=" $v.stateStore.url) }}
{{- fail "stateStore.url carries a password, and it would land in a ConfigMap: remove it from the URL and put it in the Secret named by existingSecret, under the key STATE_STORE_PASSWORD (mounted as a file)" }}
{{- end }}

{{- /* Output values that only make sense together. */}}
{{- $objectStore := include "extractor.outputIsObjectStore" . }}
{{- if $objectStore }}
{{- if $v.output.existingClaim }}
{{- fail (printf "output.existingClaim=%s is only mounted for file:// output, but output.url=%s: unset one of them" $v.output.existingClaim $v.output.url) }}
{{- end }}
{{- if and (or $v.output.endpoint $v.output.region) (not (hasPrefix "s3://" $v.output.url)) }}
{{- fail (printf "output.endpoint and output.region (AWS_ENDPOINT_URL, AWS_REGION) apply to s3:// output only, but output.url=%s" $v.output.url) }}
{{- end }}
{{- else }}
{{- if or $v.output.endpoint $v.output.region $v.output.existingSecret }}
{{- fail (printf "output.endpoint, output.region and output.existingSecret apply to an object store, but the output is %s: set output.url=s3://bucket/prefix (or gs://, az://)" (include "extractor.outputUrl" .)) }}
{{- end }}
{{- $mount := trimSuffix "/" $v.output.mountPath }}
{{- $path := trimPrefix "file://" (include "extractor.outputUrl" .) | trimSuffix "/" }}
{{- if not (or (eq $path $mount) (hasPrefix (printf "%s/" $mount) $path)) }}
{{- fail (printf "output.url=%s is outside output.mountPath=%s, the only writable place for file:// output (the root filesystem is read-only): use a path under it, or an object store" $v.output.url $v.output.mountPath) }}
{{- end }}
{{- end }}

{{- /* Several workers: one state store and one output, or runs fail at finalize. */}}
{{- if include "extractor.multiWorker" . }}
{{- $why := list }}
{{- if gt (int $v.replicaCount) 1 }}{{ $why = append $why (printf "replicaCount=%d" (int $v.replicaCount)) }}{{ end }}
{{- if $v.autoscaling.hpa.enabled }}{{ $why = append $why "autoscaling.hpa.enabled=true" }}{{ end }}
{{- if $v.autoscaling.keda.enabled }}{{ $why = append $why "autoscaling.keda.enabled=true" }}{{ end }}
{{- $fixes := list }}
{{- $postgres := hasPrefix "postgresql" $v.stateStore.url }}
{{- if not (and $postgres $v.existingSecret) }}
{{- $state := list }}
{{- if not $postgres }}
{{- $state = append $state (printf "stateStore.url=postgresql+asyncpg://USER@HOST:5432/DB (now %s, a file in each pod)" $v.stateStore.url) }}
{{- end }}
{{- if not $v.existingSecret }}
{{- $state = append $state "existingSecret=<Secret with the key STATE_STORE_PASSWORD> (now empty)" }}
{{- end }}
{{- $fixes = append $fixes (printf "  - the state store, or no worker sees the others' checkpoints: set %s" (join " and " $state)) }}
{{- end }}
{{- $rwx := and $v.output.existingClaim $v.output.readWriteMany }}
{{- if not (or $objectStore $rwx) }}
{{- $now := "a per-pod emptyDir" }}
{{- if $v.output.existingClaim }}{{ $now = printf "claim %s, not marked ReadWriteMany" $v.output.existingClaim }}{{ end }}
{{- $fixes = append $fixes (printf "  - the output, or parts scatter over the pods and no manifest is written: set output.url=s3://BUCKET/PREFIX (or gs://, az://), or output.existingClaim=<ReadWriteMany claim> with output.readWriteMany=true (now %s on %s)" (include "extractor.outputUrl" .) $now) }}
{{- end }}
{{- if $fixes }}
{{- fail (printf "%s runs several workers, and every worker must share\n%s\nExample: ci/production-values.yaml in this chart." (join ", " $why) (join "\n" $fixes)) }}
{{- end }}
{{- end }}
{{- end }}
