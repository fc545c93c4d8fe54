{{/* Object name prefix: "<release>-stack8s", or the release name when it already says stack8s. */}}
{{- define "stack8s.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "stack8s.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: stack8s
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Selector labels of one component: include with (dict "root" $ "component" "api"). */}}
{{- define "stack8s.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stack8s.fullname" .root }}-{{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The API's settings: values.config, pointed at the in-release services that are enabled. */}}
{{- define "stack8s.config" -}}
{{- $fullname := include "stack8s.fullname" . -}}
{{- $config := deepCopy .Values.config -}}
{{- if .Values.embeddings.enabled -}}
{{- $_ := set $config "EMBEDDINGS_PROVIDER" "http" -}}
{{- $_ := set $config "EMBEDDINGS_HTTP_URL" (printf "http://%s-embeddings" $fullname) -}}
{{- $_ := set $config "EMBEDDINGS_MODEL" .Values.embeddings.model -}}
{{- end -}}
{{- if .Values.nli.enabled -}}
{{- $_ := set $config "NLI_PROVIDER" "http" -}}
{{- $_ := set $config "NLI_HTTP_URL" (printf "http://%s-nli" $fullname) -}}
{{- $_ := set $config "NLI_MODEL" .Values.nli.model -}}
{{- end -}}
{{- if .Values.vllm.enabled -}}
{{- $_ := set $config "LLM_PROVIDER" "openai_compatible" -}}
{{- $_ := set $config "LLM_BASE_URL" (printf "http://%s-vllm:8000/v1" $fullname) -}}
{{- $_ := set $config "LLM_MODEL" .Values.vllm.model -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
