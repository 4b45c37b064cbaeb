"""A client-only install: ``pip install -c constraints.txt .`` (no extras) serves ``client health/predict/rerank``.

The project is installed into a fresh virtual environment from a copy of its packages (pip's warm cache, no
extras), and the ``client`` command runs there against the local Triton (started from the full environment)
through a wrapper that records every module the client imported: PyTorch, transformers, ONNX Runtime and the
exporter must not be among them, nor installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_models import make_bert, make_cross_encoder

ROOT = Path(__file__).resolve().parents[2]
#: What a build of the project reads (the packages setuptools finds, the metadata and the pins).
SOURCES = ("pyproject.toml", "README.md", "constraints.txt", "tritonize", "client", "server", "export", "deploy")
#: Top-level modules a client must never load: the exporter's stack and the exporter itself.
HEAVY = ("torch", "transformers", "onnxruntime", "onnx", "sentence_transformers", "export")

#: Runs the ``client`` command like its console script, then writes the names of every imported module.
WRAPPER = """\
import atexit, json, os, sys

def _record():
    with open(os.environ["IMPORTED_MODULES"], "w") as out:
        json.dump(sorted(sys.modules), out)

atexit.register(_record)
sys.argv[0] = "client"
from client.cli import main
main()
"""


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding only the core install."""
    work = tmp_path_factory.mktemp("core-install")
    source = work / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, source / name)
    venv = work / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              "-c", str(source / "constraints.txt"), str(source)],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, f"pip install of the core failed:\n{install.stdout}\n{install.stderr}"
    return venv


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory):
    """The local Triton serving a tiny classifier (``cls``) and a tiny reranker (``rr``), ONNX only."""
    work = tmp_path_factory.mktemp("core-install-models")
    (work / "classifier").mkdir()
    (work / "reranker").mkdir()
    repository = work / "model_repository"
    export_into(repository, str(make_bert(work / "classifier", "text-classification")), "cls", formats=("onnx",))
    export_into(repository, str(make_cross_encoder(work / "reranker")), "rr", formats=("onnx",))
    with LocalTriton(repository, ready_timeout=120) as server:
        yield server


def run_client(venv: Path, tmp_path: Path, *arguments: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``client ARGUMENTS`` with the core environment's Python; the result and the modules it imported."""
    wrapper = tmp_path / "client_wrapper.py"
    wrapper.write_text(WRAPPER)
    modules_file = tmp_path / "modules.json"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["IMPORTED_MODULES"] = str(modules_file)
    # From an empty folder, so that nothing of the source tree can be imported in place of the installed package.
    run = subprocess.run([str(venv / "bin" / "python"), str(wrapper), *arguments], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    return run, json.loads(modules_file.read_text())


def loaded_heavy(modules: list[str]) -> list[str]:
    """The modules of :data:`HEAVY` (or their submodules) among ``modules``."""
    return [name for name in modules if name.split(".")[0] in HEAVY]


def test_core_install_holds_no_exporter_stack(core_venv: Path) -> None:
    probe = f"import importlib.util as u; print([m for m in {HEAVY[:-1]!r} if u.find_spec(m)])"
    found = subprocess.run([str(core_venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                           check=True, cwd=core_venv)
    assert found.stdout.strip() == "[]"
    assert (core_venv / "bin" / "client").exists()


def test_client_health_predict_rerank_without_torch(core_venv: Path, triton: LocalTriton, tmp_path: Path) -> None:
    url = triton.http_url
    calls = {
        "health": ["--url", url, "health", "--model", "cls"],
        "predict": ["--url", url, "predict", "-m", "cls", "--json", "a fine day", "a dreadful day"],
        "rerank": ["--url", url, "rerank", "-m", "rr", "--json", "what does triton serve", "triton serves models",
                   "the quick brown fox"],
    }
    for name, arguments in calls.items():
        folder = tmp_path / name
        folder.mkdir()
        run, modules = run_client(core_venv, folder, *arguments)
        assert run.returncode == 0, f"client {name}: {run.stderr}"
        assert "client.cli" in modules and "tritonclient.http" in modules
        assert loaded_heavy(modules) == [], f"client {name} imported {loaded_heavy(modules)}"
        if name == "predict":
            assert [record["index"] for record in json.loads(run.stdout)] == [0, 1]
        if name == "rerank":
            assert sorted(record["index"] for record in json.loads(run.stdout)) == [0, 1]


@pytest.mark.parametrize(("program", "arguments", "extra"), [
    ("tritonize-export", ["./some-model"], "export"),
    ("tritonize-server", ["--repository", "."], "server"),
])
def test_a_role_without_its_extra_says_which_extra_in_one_line(core_venv: Path, tmp_path: Path, program: str,
                                                               arguments: list[str], extra: str) -> None:
    run = subprocess.run([str(core_venv / "bin" / program), *arguments], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode in (1, 2), run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert f"tritonize[{extra}]" in run.stderr.strip().splitlines()[-1]
