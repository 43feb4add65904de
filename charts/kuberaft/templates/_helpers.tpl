{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "kuberaft.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the prefix of every object this chart creates. */}}
{{- define "kuberaft.fullname" -}}
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

{{- define "kuberaft.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "kuberaft.labels" -}}
helm.sh/chart: {{ include "kuberaft.chart" . }}
{{ include "kuberaft.selectorLabels" . }}
app.kubernetes.io/version: {{ include "kuberaft.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kuberaft
{{- end }}

{{/* Labels that select the operator pod; never change them in an upgrade. */}}
{{- define "kuberaft.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kuberaft.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "kuberaft.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kuberaft.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kuberaft.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "kuberaft.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "kuberaft.imageTag" .) }}
{{- end }}
