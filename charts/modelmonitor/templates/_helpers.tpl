{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "modelmonitor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart name unless the release name already holds it. */}}
{{- define "modelmonitor.fullname" -}}
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

{{- define "modelmonitor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modelmonitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelmonitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "modelmonitor.labels" -}}
helm.sh/chart: {{ include "modelmonitor.chart" . }}
app.kubernetes.io/name: {{ include "modelmonitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modelmonitor
{{- end }}

{{- define "modelmonitor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelmonitor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator's image; the sidecar defaults to the same one. */}}
{{- define "modelmonitor.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "modelmonitor.sidecarImage" -}}
{{- default (include "modelmonitor.image" .) .Values.sidecar.image }}
{{- end }}

{{/* "true" when several replicas share the work through a Kopf peering object. */}}
{{- define "modelmonitor.peering" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/* The scrape job of the operator, as the alert rules select it. */}}
{{- define "modelmonitor.operatorSelector" -}}
{{- default (printf "job=%q" (printf "%s-metrics" (include "modelmonitor.fullname" .))) .Values.prometheusRule.operatorSelector }}
{{- end }}

{{- define "modelmonitor.monitoringNamespace" -}}
{{- default .Release.Namespace .Values.serviceMonitor.namespace }}
{{- end }}
