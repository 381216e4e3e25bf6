{{/* Chart name, overridable. */}}
{{- define "posthog-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it already contains the chart name,
otherwise release-chart; at most 63 characters.
*/}}
{{- define "posthog-operator.fullname" -}}
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

{{- define "posthog-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "posthog-operator.labels" -}}
helm.sh/chart: {{ include "posthog-operator.chart" . }}
{{ include "posthog-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: posthog-operator
{{- end }}

{{/* Labels the Deployment, Service and PodDisruptionBudget select on. */}}
{{- define "posthog-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "posthog-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "posthog-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "posthog-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "posthog-operator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "posthog-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "posthog-operator.leaderElectionID" -}}
{{- default (include "posthog-operator.fullname" .) .Values.leaderElection.id }}
{{- end }}

{{- define "posthog-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The watched namespaces, deduplicated, in the order given. */}}
{{- define "posthog-operator.watchNamespaces" -}}
{{- uniq .Values.watchNamespaces | toJson }}
{{- end }}

{{/* Job label matchers for the alerts. */}}
{{- define "posthog-operator.jobSelector" -}}
{{- if .Values.prometheusRule.jobSelector }}
{{- .Values.prometheusRule.jobSelector }}
{{- else }}
{{- printf "job=%q" (include "posthog-operator.metricsServiceName" .) }}
{{- end }}
{{- end }}
