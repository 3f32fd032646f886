{{/* The chart's name, for labels. */}}
{{- define "sidecarset.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The reconciler's objects' name: "<release>-reconciler" when the release name already says
sidecarset (`helm install sidecarset` gives sidecarset-reconciler, the name deploy/reconciler and
the docs use), else "<release>-sidecarset-reconciler".
*/}}
{{- define "sidecarset.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- printf "%s-reconciler" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s-reconciler" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sidecarset.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: fixed for a release (a Deployment's selector cannot change). */}}
{{- define "sidecarset.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sidecarset.name" . }}-reconciler
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sidecarset.labels" -}}
{{ include "sidecarset.selectorLabels" . }}
app.kubernetes.io/component: reconciler
app.kubernetes.io/part-of: sidecarset
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "sidecarset.chart" . }}
{{- end -}}

{{/* Labels of objects that are not the reconciler's (the sets, monitoring). */}}
{{- define "sidecarset.commonLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: sidecarset
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "sidecarset.chart" . }}
{{- end -}}

{{- define "sidecarset.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sidecarset.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sidecarset.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace -}}
{{- end -}}

{{- define "sidecarset.leaseName" -}}
{{- default (include "sidecarset.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{- define "sidecarset.revisionNamespace" -}}
{{- default .Release.Namespace .Values.reconciler.revisionNamespace -}}
{{- end -}}

{{- define "sidecarset.image" -}}
{{- $img := .Values.reconciler.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default (printf "v%s" .Chart.AppVersion) $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* The policy module the sets run by default: the policy released with this chart's appVersion. */}}
{{- define "sidecarset.module" -}}
{{- default (printf "registry://ghcr.io/sidecarset/policies/sidecarset:v%s" .Chart.AppVersion) .Values.setDefaults.module -}}
{{- end -}}

{{/* Whether some set pins a revision (injectionStrategy.revision). Prints "true" or nothing. */}}
{{- define "sidecarset.anySetPins" -}}
{{- range .Values.sets -}}
{{- if and .settings (dig "injectionStrategy" "revision" "" .settings) -}}true{{- end -}}
{{- end -}}
{{- end -}}
