"""An isolated Python environment for reference libraries that cannot share the project's venv (tests only).

PyLate 1.6 pins sentence-transformers 5.3 and transformers ≤ 5.3, and its index dependency (fast-plaid) pulls a
CUDA torch; FlagEmbedding brings peft and ir-datasets. They are installed once into a virtual environment in the
tritonize cache (``TRITONIZE_CACHE`` or ``~/.cache/tritonize``), with the project's torch pinned and PyLate
without its dependencies (its model code needs none of the index ones). Measured one-time cost on the dev
machine (warm pip cache, torch from a local wheel): 135 s, 1.7 GB. Tests run reference scripts there in a
subprocess and exchange numpy files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from export.release_check import cache_root

PYLATE = "pylate==1.6.0"
FLAG_EMBEDDING = "FlagEmbedding==1.4.2"
#: What PyLate's and FlagEmbedding's model code import, at the versions PyLate pins.
DEPENDENCIES = ("sentence-transformers==5.3.0", "transformers==5.3.0", "ujson", "pandas", "accelerate", "datasets",
                "sentencepiece", "protobuf", "peft")
#: Installed without their dependencies (PyLate's index ones pull a CUDA torch).
WITHOUT_DEPENDENCIES = (PYLATE, FLAG_EMBEDDING, "ir-datasets")


class ReferenceEnvError(RuntimeError):
    """The environment could not be installed, or a reference script failed (pip's or Python's last line)."""


def reference_python() -> Path:
    """The isolated environment's interpreter, installing the environment when missing."""
    torch_version = torch.__version__.split("+")[0]
    tag = "-".join(spec.replace("==", "-").lower() for spec in (PYLATE, FLAG_EMBEDDING))
    target = cache_root() / f"reference-{tag}-torch{torch_version}-py3{sys.version_info.minor}"
    python = target / "bin" / "python"
    if python.is_file():
        return python
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    steps = [[sys.executable, "-m", "venv", "--clear", str(staging)],
             [str(staging / "bin" / "python"), "-m", "pip", "install", "--quiet", f"torch=={torch_version}",
              *DEPENDENCIES],
             [str(staging / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
              *WITHOUT_DEPENDENCIES]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            lines = [line for line in result.stderr.splitlines() if line.strip() and "WARNING" not in line]
            raise ReferenceEnvError(f"Could not install the reference environment: {(lines or ['failed'])[-1]}")
    # Only ``bin/python`` is used: it finds the environment beside itself, so the folder may be renamed.
    try:
        os.rename(staging, target)
    except OSError:  # installed meanwhile by another session
        shutil.rmtree(staging, ignore_errors=True)
    return python


def run_reference(script: str, arguments: dict) -> dict[str, np.ndarray]:
    """Run ``script`` in the reference environment with ``arguments`` (JSON); return the arrays it saves.

    The script reads ``sys.argv[1]`` (the arguments' JSON file) and writes ``sys.argv[2]`` with ``np.savez``.
    """
    python = reference_python()
    with tempfile.TemporaryDirectory(prefix="tritonize-reference-") as tmp:
        given, saved = Path(tmp) / "arguments.json", Path(tmp) / "outputs.npz"
        given.write_text(json.dumps(arguments))
        result = subprocess.run([str(python), "-c", script, str(given), str(saved)], capture_output=True, text=True,
                                env={**os.environ, "PYTHONNOUSERSITE": "1", "PYTHONPATH": ""})
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            raise ReferenceEnvError(f"Reference script failed: {(lines or ['unknown error'])[-1]}")
        with np.load(saved) as loaded:
            return {name: loaded[name] for name in loaded.files}
