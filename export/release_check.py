"""Run an ONNX model in exactly the ONNX Runtime version of the target Triton release.

That version is installed once, isolated, into a cache folder (``pip install --target``) and run in a
subprocess, so a graph with operators newer than production's runtime never reaches a repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from export.errors import VerificationError
from export.settings import ONNXRUNTIME_BY_RELEASE

_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import onnxruntime as ort
assert ort.__version__ == sys.argv[2], ort.__version__
session = ort.InferenceSession(sys.argv[3], providers=["CPUExecutionProvider"])
inputs = np.load(sys.argv[4])
names = sys.argv[6].split(",")
outputs = {}
for key in sorted({k.split("/")[0] for k in inputs.files}, key=int):
    feed = {k.split("/")[1]: inputs[k] for k in inputs.files if k.split("/")[0] == key}
    for name, value in zip(names, session.run(names, feed)):
        outputs[key + "/" + name] = value
np.savez(sys.argv[5], **outputs)
"""


def cache_root() -> Path:
    """Where isolated runtimes are kept (``TRITONIZE_CACHE`` or ``~/.cache/tritonize``)."""
    return Path(os.environ.get("TRITONIZE_CACHE", Path.home() / ".cache" / "tritonize"))


def runtime_for(triton_release: str) -> tuple[str, Path]:
    """The ONNX Runtime version of ``triton_release`` and its isolated install, installing it when missing."""
    version = ONNXRUNTIME_BY_RELEASE[triton_release]
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    target = cache_root() / f"onnxruntime-{version}-{tag}"
    if (target / "onnxruntime" / "__init__.py").is_file():
        return version, target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--target", str(staging), f"onnxruntime=={version}"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        reason = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise VerificationError(
            f"Could not install onnxruntime=={version} (the runtime of Triton {triton_release}) to check the "
            f"model: {reason}. Pass --skip-release-check to export without this check."
        )
    try:
        os.rename(staging, target)
    except OSError:  # installed meanwhile by another export
        shutil.rmtree(staging, ignore_errors=True)
    return version, target


def run_in_release(model: Path, output_names: list[str], batches: list[dict[str, np.ndarray]],
                   triton_release: str) -> tuple[str, list[list[np.ndarray]]]:
    """Run ``model`` on ``batches`` in the release's ONNX Runtime; return its version and the outputs.

    Raises:
        VerificationError: The model does not load or run there (e.g. an operator or opset too new).
    """
    version, runtime = runtime_for(triton_release)
    with tempfile.TemporaryDirectory(prefix="tritonize-release-") as tmp:
        inputs, outputs = Path(tmp) / "inputs.npz", Path(tmp) / "outputs.npz"
        np.savez(inputs, **{f"{i}/{name}": array for i, batch in enumerate(batches) for name, array in batch.items()})
        result = subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(runtime), version, str(model), str(inputs), str(outputs),
             ",".join(output_names)],
            capture_output=True, text=True, env={**os.environ, "PYTHONNOUSERSITE": "1"},
        )
        if result.returncode != 0:
            raise VerificationError(
                f"The ONNX model does not run in ONNX Runtime {version}, the runtime of Triton {triton_release}: "
                f"{explain_failure(result.stderr)}. Nothing was written."
            )
        loaded = np.load(outputs)
        return version, [[loaded[f"{i}/{name}"] for name in output_names] for i in range(len(batches))]


def explain_failure(stderr: str) -> str:
    """The one line of an ONNX Runtime failure that says what is too new or broken."""
    match = re.search(r"implementation for (\w+)\((\d+)\)", stderr)
    if match:
        return f"operator {match.group(1)} (opset {match.group(2)}) is not implemented there"
    match = re.search(r"[Oo]pset (\d+) is under development|max supported IR version: (\d+)", stderr)
    if match:
        return f"the model's opset or IR version is too new ({match.group(0)})"
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"
