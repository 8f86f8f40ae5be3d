{{/* Names, labels and the pieces every pod shares. */}}

{{- define "dsa110.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<chart>", or the release name alone when it already contains the chart name. */}}
{{- define "dsa110.fullname" -}}
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

{{- define "dsa110.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dsa110.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dsa110.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "dsa110.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dsa110-stream
{{- end -}}

{{- define "dsa110.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "dsa110.configName" -}}
{{- printf "%s-config" (include "dsa110.fullname" .) -}}
{{- end -}}

{{- define "dsa110.secretName" -}}
{{- if .Values.kafka.existingSecret -}}
{{- .Values.kafka.existingSecret -}}
{{- else -}}
{{- printf "%s-kafka" (include "dsa110.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Is there a SASL password / a CA bundle to hand to the pods? */}}
{{- define "dsa110.hasSaslPassword" -}}
{{- if .Values.kafka.existingSecret -}}
{{- if .Values.kafka.saslUsername }}true{{ end -}}
{{- else if .Values.kafka.saslPassword }}true{{ end -}}
{{- end -}}

{{- define "dsa110.hasTlsCa" -}}
{{- if .Values.kafka.existingSecret -}}
{{- if .Values.kafka.existingSecretHasTlsCa }}true{{ end -}}
{{- else if .Values.kafka.tlsCa }}true{{ end -}}
{{- end -}}

{{- define "dsa110.tlsCaPath" -}}/etc/dsa110-stream/tls/ca.crt{{- end -}}

{{/*
The settings sections every service shares (kafka, topics, observability), as a dict.
Secrets never go in here: the SASL password comes from the Secret through the environment.
*/}}
{{- define "dsa110.commonSettings" -}}
{{- $k := .Values.kafka -}}
{{- if and (hasPrefix "SASL_" $k.securityProtocol) (not (and $k.saslMechanism $k.saslUsername (include "dsa110.hasSaslPassword" .))) -}}
{{- fail (printf "kafka.securityProtocol %s needs kafka.saslMechanism, kafka.saslUsername and a password (kafka.saslPassword, or kafka.existingSecret holding it under kafka.secretKeys.saslPassword)" $k.securityProtocol) -}}
{{- end -}}
{{- $kafka := dict "bootstrap_servers" $k.bootstrapServers "security_protocol" $k.securityProtocol -}}
{{- with $k.saslMechanism }}{{ $_ := set $kafka "sasl_mechanism" . }}{{ end -}}
{{- if include "dsa110.hasTlsCa" . }}{{ $_ := set $kafka "ssl_ca_location" (include "dsa110.tlsCaPath" .) }}{{ end -}}
{{- with $k.schemaRegistryUrl }}{{ $_ := set $kafka "schema_registry_url" . }}{{ end -}}
{{- with $k.clientOverrides }}{{ $_ := set $kafka "client_overrides" . }}{{ end -}}
{{- $t := .Values.topics -}}
{{- $topics := dict "subbands" $t.subbands "ms_ready" $t.msReady "dead_letter" $t.deadLetter -}}
{{- $o := .Values.observability -}}
{{- $obs := dict "log_level" $o.logLevel "log_json" $o.logJson "metrics_port" $o.metricsPort "metrics_host" "0.0.0.0" -}}
{{- toYaml (dict "kafka" $kafka "topics" $topics "observability" $obs) -}}
{{- end -}}

{{/* The topics' layout section (topics command and producer). */}}
{{- define "dsa110.layout" -}}
{{- $l := .Values.topics.layout -}}
{{- $layout := dict "partitions" $l.partitions "replication_factor" $l.replicationFactor -}}
{{- if not (kindIs "invalid" $l.minInsyncReplicas) }}{{ $_ := set $layout "min_insync_replicas" $l.minInsyncReplicas }}{{ end -}}
{{- toYaml $layout -}}
{{- end -}}

{{/*
The settings file of one producer instance (its input directory is given with --input-dir).
Argument: (dict "root" $ "instance" $instance).
*/}}
{{- define "dsa110.producerSettings" -}}
{{- $ := .root -}}
{{- $settings := deepCopy (default dict $.Values.producer.settings) -}}
{{- $settings = mergeOverwrite $settings (deepCopy (default dict .instance.settings)) -}}
{{- $fixed := fromYaml (include "dsa110.commonSettings" $) -}}
{{- $_ := set $fixed "data_root" $.Values.storage.incoming.mountPath -}}
{{- $_ := set $fixed "layout" (fromYaml (include "dsa110.layout" $)) -}}
{{- $_ := set $fixed "shutdown_timeout_seconds" $.Values.producer.shutdownTimeoutSeconds -}}
{{- if $.Values.topics.create.enabled }}{{ $_ := set $fixed "create_topics" false }}{{ end -}}
{{- toYaml (mergeOverwrite $settings $fixed) -}}
{{- end -}}

{{- define "dsa110.scratchDir" -}}
{{- $output := trimSuffix "/" .Values.storage.output.mountPath -}}
{{- $scratch := default (printf "%s/.scratch" $output) .Values.consumer.scratchDir -}}
{{- if not (hasPrefix (printf "%s/" $output) $scratch) -}}
{{- fail (printf "consumer.scratchDir (%s) must lie inside storage.output.mountPath (%s): the finished MS is renamed from scratch into place, which is atomic only within one filesystem" $scratch $output) -}}
{{- end -}}
{{- $scratch -}}
{{- end -}}

{{/* The consumer's settings file (instance_id comes from the pod name, via the environment). */}}
{{- define "dsa110.consumerSettings" -}}
{{- $c := .Values.consumer -}}
{{- $settings := deepCopy (default dict $c.settings) -}}
{{- $fixed := fromYaml (include "dsa110.commonSettings" .) -}}
{{- $_ := set $fixed "group_id" $c.groupId -}}
{{- $_ := set $fixed "static_membership" $c.staticMembership -}}
{{- $_ := set $fixed "session_timeout_s" $c.sessionTimeoutSeconds -}}
{{- $_ := set $fixed "concurrency" $c.workers -}}
{{- $_ := set $fixed "data_root" .Values.storage.incoming.mountPath -}}
{{- $_ := set $fixed "output_dir" .Values.storage.output.mountPath -}}
{{- $_ := set $fixed "scratch_dir" (include "dsa110.scratchDir" .) -}}
{{- $_ := set $fixed "shutdown_grace_s" $c.shutdownGraceSeconds -}}
{{- toYaml (mergeOverwrite $settings $fixed) -}}
{{- end -}}

{{/* The topics command's settings file (a one-shot command: no endpoint server). */}}
{{- define "dsa110.topicsSettings" -}}
{{- $fixed := fromYaml (include "dsa110.commonSettings" .) -}}
{{- $_ := unset $fixed.observability "metrics_port" -}}
{{- $_ := set $fixed "layout" (fromYaml (include "dsa110.layout" .)) -}}
{{- toYaml $fixed -}}
{{- end -}}

{{/* Grace period of a pod: the explicit value (checked) or the service's own grace + 30 s. */}}
{{- define "dsa110.terminationGrace" -}}
{{- $own := int .own -}}
{{- if kindIs "invalid" .explicit -}}
{{- add $own 30 -}}
{{- else if lt (int .explicit) $own -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%v) is shorter than the service's own shutdown grace (%v): Kubernetes would kill it mid-shutdown" .what .explicit $own) -}}
{{- else -}}
{{- int .explicit -}}
{{- end -}}
{{- end -}}

{{/*
Environment shared by every container: a writable HOME and caches on /tmp (the root
filesystem is read-only), the SASL user and password. Argument: (dict "root" $ "secretName" name).
*/}}
{{- define "dsa110.env" -}}
- name: HOME
  value: /tmp/home
- name: XDG_CACHE_HOME
  value: /tmp/cache
- name: XDG_CONFIG_HOME
  value: /tmp/config
- name: MPLCONFIGDIR
  value: /tmp/matplotlib
{{- with .root.Values.kafka.saslUsername }}
- name: DSA110_KAFKA__SASL_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if include "dsa110.hasSaslPassword" .root }}
- name: DSA110_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .root.Values.kafka.secretKeys.saslPassword }}
{{- end }}
{{- end -}}

{{/*
Volumes shared by every pod: the settings, /tmp, and the CA bundle if any.
Argument: (dict "root" $ "configMap" name "secretName" name).
*/}}
{{- define "dsa110.baseVolumes" -}}
- name: config
  configMap:
    name: {{ .configMap }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .root.Values.storage.tmpSizeLimit }}
{{- if include "dsa110.hasTlsCa" .root }}
- name: kafka-tls
  secret:
    secretName: {{ .secretName }}
    items:
      - key: {{ .root.Values.kafka.secretKeys.tlsCa }}
        path: ca.crt
{{- end }}
{{- end -}}

{{- define "dsa110.baseVolumeMounts" -}}
- name: config
  mountPath: /etc/dsa110-stream/config
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if include "dsa110.hasTlsCa" . }}
- name: kafka-tls
  mountPath: /etc/dsa110-stream/tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "dsa110.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* Probes on the endpoint server. Argument: (dict "probes" $probes). */}}
{{- define "dsa110.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: metrics
  {{- toYaml .probes.startup | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  {{- toYaml .probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  {{- toYaml .probes.readiness | nindent 2 }}
{{- end -}}

{{/* Consumer resources: explicit, or sized for `workers` conversions of ~2 GiB each. */}}
{{- define "dsa110.consumerResources" -}}
{{- $c := .Values.consumer -}}
{{- if $c.resources -}}
{{- toYaml $c.resources -}}
{{- else -}}
{{- $memory := printf "%dMi" (int (mulf 1024 (addf (mulf $c.workers $c.memoryPerWorkerGiB) $c.memoryOverheadGiB))) -}}
{{- $cpu := printf "%dm" (int (mulf 1000 (mulf $c.workers $c.cpuPerWorker))) -}}
requests:
  cpu: {{ $cpu }}
  memory: {{ $memory }}
limits:
  memory: {{ $memory }}
{{- end -}}
{{- end -}}
