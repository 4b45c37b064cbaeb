{{/*
The OpenAI-compatible gateway as a sidecar of the Triton container (values: gateway.*): it calls Triton on
localhost gRPC; /health (ready: Triton and a model are) and /health/live probe it; API keys come from a Secret.
*/}}
{{- define "tritonize.gatewayContainer" -}}
{{- if .Values.gateway.enabled }}
{{- $gw := .Values.gateway }}
- name: gateway
  image: "{{ $gw.image.repository }}:{{ $gw.image.tag }}"
  imagePullPolicy: {{ $gw.image.pullPolicy | default "IfNotPresent" }}
  args:
    - python
    - -m
    - gateway
    - --triton=localhost:{{ .Values.ports.grpc }}
    - --host=0.0.0.0
    - --port={{ $gw.port }}
    - --max-inputs={{ $gw.maxInputs | default 2048 }}
    - --max-documents={{ $gw.maxDocuments | default 1000 }}
    {{- if $gw.apiKeysSecret }}
    - --api-key-file=/var/run/secrets/tritonize/gateway/{{ $gw.apiKeysKey }}
    {{- end }}
  ports:
    - name: gateway
      containerPort: {{ $gw.port }}
      protocol: TCP
  readinessProbe:
    httpGet:
      path: /health
      port: gateway
    periodSeconds: {{ $gw.probes.readiness.periodSeconds }}
    failureThreshold: {{ $gw.probes.readiness.failureThreshold }}
    timeoutSeconds: {{ $gw.probes.readiness.timeoutSeconds }}
  livenessProbe:
    httpGet:
      path: /health/live
      port: gateway
    periodSeconds: {{ $gw.probes.liveness.periodSeconds }}
    failureThreshold: {{ $gw.probes.liveness.failureThreshold }}
    timeoutSeconds: {{ $gw.probes.liveness.timeoutSeconds }}
  securityContext:
    # The gateway image's user; it writes nothing.
    runAsUser: 10001
    runAsGroup: 10001
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    privileged: false
    capabilities:
      drop: ["ALL"]
  resources:
    {{- toYaml ($gw.resources | default dict) | nindent 4 }}
  {{- if $gw.apiKeysSecret }}
  volumeMounts:
    - name: gateway-api-keys
      mountPath: /var/run/secrets/tritonize/gateway
      readOnly: true
  {{- end }}
{{- end }}
{{- end }}

{{- define "tritonize.gatewayVolumes" -}}
{{- if and .Values.gateway.enabled .Values.gateway.apiKeysSecret }}
- name: gateway-api-keys
  secret:
    secretName: {{ .Values.gateway.apiKeysSecret }}
{{- end }}
{{- end }}
