{{/* The chart's name. */}}
{{- define "zis-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name when it already contains the chart's name. */}}
{{- define "zis-operator.fullname" -}}
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

{{/* Labels of every object. */}}
{{- define "zis-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "zis-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: zis-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "zis-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zis-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "zis-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zis-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The leader-election Lease's name. */}}
{{- define "zis-operator.leaseName" -}}
{{- default (include "zis-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The namespace the operator is limited to, or nothing (every namespace). */}}
{{- define "zis-operator.watchNamespace" -}}
{{- if eq .Values.rbac.scope "Namespaced" }}
{{- first .Values.rbac.namespaces }}
{{- end }}
{{- end }}

{{/* The number of replicas: replicaCount, else 2 with leader election and 1 without. */}}
{{- define "zis-operator.replicas" -}}
{{- if kindIs "invalid" .Values.replicaCount }}
{{- ternary 2 1 .Values.leaderElection.enabled }}
{{- else }}
{{- .Values.replicaCount }}
{{- end }}
{{- end }}

{{/* The image reference. */}}
{{- define "zis-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The rules the operator needs in the namespaces it manages (ClusterRole or Role). */}}
{{- define "zis-operator.rules" }}
# Watch the connections; add and remove the finalizer (patch); re-read one before a decision.
- apiGroups: [zis-operator.dev]
  resources: [zisbearerconnections]
  verbs: [get, list, watch, patch]
# Report what was done.
- apiGroups: [zis-operator.dev]
  resources: [zisbearerconnections/status]
  verbs: [patch]
# Token Secrets and the credentials Secret: watched as metadata only, read one at a time.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
# Events about the connections: core/v1, so that they carry lastTimestamp and count (src/events.rs);
# repeated ones are patched.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/*
The operator's command line (`zis-operator run ...`), one flag per item. The chart's tests start the
operator outside the cluster with exactly these arguments.
*/}}
{{- define "zis-operator.args" -}}
- run
{{- with .Values.zendesk.subdomain }}
- {{ printf "--subdomain=%s" . | quote }}
{{- end }}
{{- with .Values.zendesk.url }}
- {{ printf "--zendesk-url=%s" . | quote }}
{{- end }}
{{- if .Values.zendesk.allowHttp }}
- --allow-http
{{- end }}
- {{ printf "--credentials-secret=%s/%s" .Release.Namespace .Values.credentials.secretName | quote }}
{{- with .Values.credentials.namespaceSelector }}
- {{ printf "--namespace-selector=%s" . | quote }}
{{- end }}
{{- with include "zis-operator.watchNamespace" . }}
- {{ printf "--namespace=%s" . | quote }}
{{- end }}
{{- with .Values.integrations.selector }}
- {{ printf "--integration-selector=%s" . | quote }}
{{- end }}
- {{ printf "--resync-interval=%s" .Values.operator.resyncInterval | quote }}
- {{ printf "--concurrency=%d" (int .Values.operator.concurrency) | quote }}
- {{ printf "--requests-per-minute=%d" (int .Values.operator.requestsPerMinute) | quote }}
- {{ printf "--log-format=%s" .Values.operator.logFormat | quote }}
- {{ printf "--metrics-addr=0.0.0.0:%d" (int .Values.metrics.port) | quote }}
- {{ printf "--leader-election=%t" .Values.leaderElection.enabled | quote }}
{{- if .Values.leaderElection.enabled }}
- {{ printf "--leader-election-namespace=%s" .Release.Namespace | quote }}
- {{ printf "--leader-election-lease=%s" (include "zis-operator.leaseName" .) | quote }}
{{- end }}
{{- range .Values.operator.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/*
The ZisIntegration rules: watched (cluster-scoped), their status reported.
*/}}
{{- define "zis-operator.integrationRules" }}
# ZisIntegrations: watched; their status reported.
- apiGroups: [zis-operator.dev]
  resources: [zisintegrations]
  verbs: [list, watch]
- apiGroups: [zis-operator.dev]
  resources: [zisintegrations/status]
  verbs: [patch]
{{- end }}
