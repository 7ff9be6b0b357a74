{{/* Names, labels and the pieces every workload shares. */}}

{{- define "fixgw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fixgw.fullname" -}}
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

{{/* A component's object name: fullname-component, at most 63 characters. */}}
{{- define "fixgw.component" -}}
{{- printf "%s-%s" (include "fixgw.fullname" .root | trunc 48 | trimSuffix "-") .component -}}
{{- end -}}

{{/* Selector labels of a component (never change between upgrades). */}}
{{- define "fixgw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fixgw.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The standard app.kubernetes.io labels of every object. */}}
{{- define "fixgw.labels" -}}
{{ include "fixgw.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: fixgw
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "fixgw.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "fixgw.leaseNamespace" -}}
{{- default .Release.Namespace .Values.operator.leaseNamespace -}}
{{- end -}}

{{/* The operator's published routing table (ADR-010): its index ConfigMap, in the lease namespace. The
gateway reads it when the operator is enabled ("routes: published"), else it compiles FIXSessions itself. */}}
{{- define "fixgw.routingTable" -}}
{{- include "fixgw.component" (dict "root" . "component" "routing-table") -}}
{{- end -}}

{{- define "fixgw.leaseName" -}}
{{- default (include "fixgw.component" (dict "root" . "component" "operator")) .Values.operator.leaseName -}}
{{- end -}}

{{/* The admission webhook's Service (its certificate is for <this>.<namespace>.svc) and serving Secret. */}}
{{- define "fixgw.webhookName" -}}
{{- include "fixgw.component" (dict "root" . "component" "operator-webhook") -}}
{{- end -}}

{{- define "fixgw.webhookSecret" -}}
{{- default (printf "%s-tls" (include "fixgw.webhookName" .)) .Values.operator.webhook.secretName -}}
{{- end -}}

{{/* Pod-level security: non-root, seccomp RuntimeDefault. */}}
{{- define "fixgw.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security: read-only root file system, every capability dropped, no escalation. */}}
{{- define "fixgw.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}

{{/* The gateway's pod template, shared by the Deployment and the DaemonSet. */}}
{{- define "fixgw.gatewayPod" -}}
{{- $g := .Values.gateway -}}
metadata:
  labels:
    {{- include "fixgw.labels" (dict "root" . "component" "gateway") | nindent 4 }}
  annotations:
    # A changed config rolls the pods (the gateway would also reload most keys by itself; listeners and
    # workers only take effect at a restart).
    checksum/config: {{ include (print $.Template.BasePath "/gateway-configmap.yaml") . | sha256sum }}
    {{- with $g.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "fixgw.component" (dict "root" . "component" "gateway") }}
  automountServiceAccountToken: true
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ add $g.drain.preStopSeconds $g.drain.drainSeconds 10 }}
  securityContext:
    {{- include "fixgw.podSecurityContext" . | nindent 4 }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if and (eq $g.mode "deployment") $g.antiAffinity.enabled }}
  affinity:
    podAntiAffinity:
      {{- if eq $g.antiAffinity.type "required" }}
      requiredDuringSchedulingIgnoredDuringExecution:
        - topologyKey: {{ $g.antiAffinity.topologyKey }}
          labelSelector:
            matchLabels:
              {{- include "fixgw.selectorLabels" (dict "root" . "component" "gateway") | nindent 14 }}
      {{- else }}
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: {{ $g.antiAffinity.topologyKey }}
            labelSelector:
              matchLabels:
                {{- include "fixgw.selectorLabels" (dict "root" . "component" "gateway") | nindent 16 }}
      {{- end }}
  {{- end }}
  {{- with $g.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $g.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: gateway
      image: {{ include "fixgw.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: [gateway, --config, /etc/fixgw/config/fixgw.yaml]
      # the downward API, for the telemetry resource (k8s.pod.name, k8s.namespace.name, k8s.node.name)
      env:
        {{- include "fixgw.downwardEnv" . | nindent 8 }}
      ports:
        {{- range $g.listeners }}
        - name: {{ .name }}
          containerPort: {{ .port }}
          protocol: TCP
        {{- end }}
        - name: admin
          containerPort: {{ $g.admin.port }}
          protocol: TCP
      startupProbe:
        httpGet: {path: /readyz, port: admin}
        periodSeconds: 2
        # the first complete lists from the API server may take up to kubernetes.syncTimeout (60 s)
        failureThreshold: 45
      livenessProbe:
        httpGet: {path: /healthz, port: admin}
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      readinessProbe:
        httpGet: {path: /readyz, port: admin}
        periodSeconds: 5
        timeoutSeconds: 3
        failureThreshold: 2
      lifecycle:
        preStop:
          sleep:
            seconds: {{ $g.drain.preStopSeconds }}
      securityContext:
        {{- include "fixgw.containerSecurityContext" . | nindent 8 }}
      resources:
        {{- toYaml $g.resources | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/fixgw/config
          readOnly: true
        {{- range $g.listeners }}
        {{- if .tls.enabled }}
        - name: tls-{{ .name }}
          mountPath: /etc/fixgw/tls/{{ .name }}
          readOnly: true
        {{- end }}
        {{- end }}
        {{- include "fixgw.otelTLSMount" . | nindent 8 }}
  volumes:
    - name: config
      configMap:
        name: {{ include "fixgw.component" (dict "root" . "component" "gateway") }}
    {{- range $g.listeners }}
    {{- if .tls.enabled }}
    - name: tls-{{ .name }}
      secret:
        secretName: {{ .tls.secretName }}
    {{- end }}
    {{- end }}
    {{- include "fixgw.otelTLSVolume" . | nindent 4 }}
{{- end -}}

{{/* NetworkPolicy egress rule to the API server (networkPolicy.apiServerCIDRs/Ports). */}}
{{- define "fixgw.apiServerEgress" -}}
- to:
    {{- range .Values.networkPolicy.apiServerCIDRs }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.apiServerPorts }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end -}}

{{/* The collector endpoint as fixgw's exporter reads it: host:port for gRPC (TLS unless insecure), else a
URL (http:// when insecure, https:// otherwise) unless one is given. */}}
{{- define "fixgw.otelEndpoint" -}}
{{- $o := .Values.otel -}}
{{- if or (eq $o.protocol "grpc") (contains "://" $o.collectorEndpoint) -}}
{{ $o.collectorEndpoint }}
{{- else -}}
{{ printf "%s://%s" (ternary "http" "https" $o.insecure) $o.collectorEndpoint }}
{{- end -}}
{{- end -}}

{{/* The downward API variables the exporter puts on its resource (k8s.pod.name, k8s.namespace.name,
k8s.node.name); the operator's POD_NAME is also its lease identity. */}}
{{- define "fixgw.downwardEnv" -}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: NODE_NAME
  valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
{{- end -}}

{{/* The reject engine's and the operator's OTLP export, by the standard OTEL_* variables (the gateway reads
the same settings from its config file's telemetry section). Empty when otel is off. */}}
{{- define "fixgw.otelEnv" -}}
{{- $o := .Values.otel -}}
{{- if $o.enabled -}}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ include "fixgw.otelEndpoint" . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ ternary "grpc" "http/protobuf" (eq $o.protocol "grpc") }}
- name: OTEL_EXPORTER_OTLP_INSECURE
  value: {{ $o.insecure | quote }}
{{- if $o.tlsSecretName }}
- name: OTEL_EXPORTER_OTLP_CERTIFICATE
  value: /etc/fixgw/otel-tls/ca.crt
{{- end }}
{{- with $o.collectorConfig.clusterName }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "k8s.cluster.name=%s" . | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy egress rules to the OpenTelemetry Collector and to DNS (to resolve its name), when otel is on. */}}
{{- define "fixgw.otelEgress" -}}
{{- if .Values.otel.enabled -}}
# the OpenTelemetry Collector, and DNS to resolve its name
- ports:
    {{- range .Values.otel.collectorPorts }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
- to:
    - namespaceSelector: {}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end -}}
{{- end -}}

{{/* The collector CA's mount and volume (otel.tlsSecretName), for every component that exports. */}}
{{- define "fixgw.otelTLSMount" -}}
{{- if and .Values.otel.enabled .Values.otel.tlsSecretName -}}
- name: otel-tls
  mountPath: /etc/fixgw/otel-tls
  readOnly: true
{{- end -}}
{{- end -}}

{{- define "fixgw.otelTLSVolume" -}}
{{- if and .Values.otel.enabled .Values.otel.tlsSecretName -}}
- name: otel-tls
  secret:
    secretName: {{ .Values.otel.tlsSecretName }}
{{- end -}}
{{- end -}}
