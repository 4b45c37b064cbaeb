{{/* Names and labels. */}}
{{- define "tritonize.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tritonize.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 56 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tritonize.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tritonize.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tritonize.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tritonize.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: inference-server
app.kubernetes.io/part-of: tritonize
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tritonize.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tritonize.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tritonize.metricsService" -}}
{{- printf "%s-metrics" (include "tritonize.fullname" .) }}
{{- end }}

{{/* The Secret holding the admin API key. */}}
{{- define "tritonize.apiKeySecret" -}}
{{- default (printf "%s-api-key" (include "tritonize.fullname" .)) .Values.apiKey.existingSecret }}
{{- end }}

{{/* Where Triton reads models: the image's /models, or the object-storage URI. */}}
{{- define "tritonize.modelRepository" -}}
{{- default "/models" .Values.modelRepository.uri }}
{{- end }}

{{/*
The autoscaling signal, defined once: Triton's average queue time per request (µs) over a window.
Arguments: matchers (PromQL label matchers without braces, may be empty), window (a PromQL duration).
*/}}
{{- define "tritonize.queueTimeQuery" -}}
{{- $selector := "" }}
{{- if .matchers }}{{ $selector = printf "{%s}" .matchers }}{{ end -}}
avg(delta(nv_inference_queue_duration_us{{ $selector }}[{{ .window }}]) / (1 + delta(nv_inference_request_success{{ $selector }}[{{ .window }}])))
{{- end }}

{{/* The label matchers KEDA's query uses: this release's metrics Service unless values say otherwise. */}}
{{- define "tritonize.kedaMatchers" -}}
{{- if kindIs "string" .Values.autoscaling.keda.labelMatchers }}
{{- .Values.autoscaling.keda.labelMatchers }}
{{- else }}
{{- printf "namespace=%q,service=%q" .Release.Namespace (include "tritonize.metricsService" .) }}
{{- end }}
{{- end }}

{{/* Checks a schema cannot express. */}}
{{- define "tritonize.validate" -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%v) must not exceed autoscaling.maxReplicas (%v)" .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas) }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not .Values.autoscaling.enabled) (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%v) must be below replicaCount (%v), or no node could ever be drained" .Values.podDisruptionBudget.minAvailable .Values.replicaCount) }}
{{- end }}
{{- end }}

{{/* Scale out fast (up to two pods a minute), scale in slowly (one pod per two minutes, after a calm window). */}}
{{- define "tritonize.behavior" -}}
scaleUp:
  stabilizationWindowSeconds: 0
  policies:
    - type: Pods
      value: 2
      periodSeconds: 60
scaleDown:
  stabilizationWindowSeconds: {{ .Values.autoscaling.scaleDownStabilizationSeconds }}
  policies:
    - type: Pods
      value: 1
      periodSeconds: 120
{{- end }}
