"""Run an ONNX or TorchScript model in exactly the runtime version of the target Triton release.

The versions come from the release table (:mod:`tritonize.releases`). Each (ONNX Runtime, or the PyPI torch
nearest the libtorch of the release) is installed once, isolated, into a cache folder (``pip install --target``,
``TRITONIZE_CACHE``) and run in a subprocess, so a graph with operators newer than production's runtime never
reaches a repository. An install says on stderr what it downloads, where, and how large and long it was; when
this environment's torch is the release's, it is used as it is. ``--skip-release-check`` and
``--skip-torchscript-release-check`` opt out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from export.errors import VerificationError
from tritonize.releases import release

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
    version = release(triton_release).onnxruntime
    assert version is not None  # release() accepts confirmed rows only
    what = f"onnxruntime=={version} (the runtime of Triton {triton_release})"
    return version, _isolated("onnxruntime", version, what, "--skip-release-check")


def _isolated(package: str, version: str, what: str, skip_flag: str,
              extra: Callable[[Path], list[str]] | None = None) -> Path:
    """The cache folder holding ``package==version`` alone (plus ``extra(staging)``), installed when missing."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    target = cache_root() / f"{package}-{version}-{tag}"
    if (target / package / "__init__.py").is_file():
        return target
    announce(f"Installing {what} once into {target} (skip with {skip_flag}) …")
    started = time.monotonic()
    staging = _staging(target)
    _pip_target(staging, [f"{package}=={version}"], what, skip_flag)
    if extra is not None:
        _pip_target(staging, extra(staging), what, skip_flag)
    size = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
    announce(f"Installed {package}=={version}: {size / 1024**2:,.0f} MB in {time.monotonic() - started:.0f} s.")
    return _publish(staging, target)


def announce(line: str) -> None:
    """Say on stderr what a one-time install does; the export's progress lines go there too."""
    print(line, file=sys.stderr, flush=True)


def _environment_torch(version: str) -> Path | None:
    """The folder holding this environment's torch when it is ``version`` (no install needed), else ``None``."""
    try:
        installed = metadata.version("torch").split("+")[0]
    except metadata.PackageNotFoundError:
        return None
    if installed != version:
        return None
    return Path(metadata.distribution("torch").locate_file(""))


def _staging(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))


def _pip_target(staging: Path, requirements: list[str], what: str, skip_flag: str) -> None:
    """``pip install --no-deps --target staging``; on failure remove ``staging`` and say how to skip the check."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--upgrade", "--target", str(staging), *requirements]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        reason = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise VerificationError(
            f"Could not install {what} to check the model: {reason}. Pass {skip_flag} to export without this check."
        )


def _publish(staging: Path, target: Path) -> Path:
    """Rename a finished install into place, so a half install is never used."""
    try:
        os.rename(staging, target)
    except OSError:  # installed meanwhile by another export
        shutil.rmtree(staging, ignore_errors=True)
    return target


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


_TORCH_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import torch
assert torch.__version__.split("+")[0] == sys.argv[2], torch.__version__
module = torch.jit.load(sys.argv[3], map_location="cpu").eval()
inputs = np.load(sys.argv[4])
names = sys.argv[6].split(",")
outputs = {}
for key in sorted({k.split("/")[0] for k in inputs.files}, key=int):
    with torch.inference_mode():
        result = module(*[torch.from_numpy(inputs[key + "/" + name]) for name in names])
    result = result if isinstance(result, tuple) else (result,)
    for index, value in enumerate(result):
        outputs[f"{key}/{index}"] = value.float().numpy()
np.savez(sys.argv[5], **outputs)
"""


def torch_for(triton_release: str) -> tuple[str, Path]:
    """The PyTorch version of ``triton_release`` and its isolated install, installing it when missing.

    The version is the PyPI release nearest the libtorch of the release (``Release.torch_pypi``). When this
    environment's torch is that version it is used directly. Otherwise PyPI's torch wheels are CUDA builds: the
    wheel and the CUDA libraries ``import torch`` preloads (3–5 GB) are installed once per cache; its pure-Python
    dependencies come from this environment, and triton (the GPU kernel compiler) is not needed to run TorchScript.
    """
    version = release(triton_release).torch_pypi
    assert version is not None  # release() accepts confirmed rows only
    here = _environment_torch(version)
    if here is not None:
        return version, here
    what = f"torch=={version} (the libtorch generation of Triton {triton_release})"

    skip = "--skip-torchscript-release-check"

    def cuda_libraries(staging: Path) -> list[str]:
        needed = [r for r in _requirements(staging, "torch")
                  if r.name.startswith("nvidia-") or r.name in ("sympy", "cuda-toolkit")]
        for toolkit in [r for r in needed if r.name == "cuda-toolkit"]:
            # torch 2.10 on: most CUDA libraries come through the extras of the cuda-toolkit metapackage.
            _pip_target(staging, [str(toolkit)], what, skip)
            needed += _requirements(staging, "cuda_toolkit", toolkit.extras)
        # Markers already evaluated here (an extra's marker would make pip skip the requirement).
        return [*(f"{r.name}{r.specifier}" for r in needed if r.name != "cuda-toolkit"), "mpmath"]

    return version, _isolated("torch", version, what, skip, cuda_libraries)


def _requirements(folder: Path, distribution: str, extras: set[str] | frozenset[str] = frozenset()) -> list:
    """Requirements of ``distribution`` installed in ``folder`` (with ``extras``) whose markers hold here."""
    from packaging.requirements import Requirement

    (metadata,) = folder.glob(f"{distribution}-*.dist-info/METADATA")
    requirements = [Requirement(line.split(":", 1)[1].strip()) for line in metadata.read_text().splitlines()
                    if line.startswith("Requires-Dist:")]
    return [r for r in requirements
            if r.marker is None or any(r.marker.evaluate({"extra": extra}) for extra in ("", *sorted(extras)))]


def run_torchscript_in_release(model: Path, input_names: list[str], output_count: int,
                               batches: list[dict[str, np.ndarray]], triton_release: str
                               ) -> tuple[str, list[list[np.ndarray]]]:
    """Load and run a TorchScript ``model`` in the release's PyTorch; return its version and the outputs.

    Raises:
        VerificationError: That PyTorch cannot load or run the model (e.g. an operator newer than it).
    """
    version, runtime = torch_for(triton_release)
    with tempfile.TemporaryDirectory(prefix="tritonize-release-") as tmp:
        inputs, outputs = Path(tmp) / "inputs.npz", Path(tmp) / "outputs.npz"
        np.savez(inputs, **{f"{i}/{name}": batch[name] for i, batch in enumerate(batches) for name in input_names})
        result = subprocess.run(
            [sys.executable, "-c", _TORCH_SCRIPT, str(runtime), version, str(model), str(inputs), str(outputs),
             ",".join(input_names)],
            capture_output=True, text=True, env={**os.environ, "PYTHONNOUSERSITE": "1"},
        )
        if result.returncode != 0:
            lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
            raise VerificationError(
                f"The TorchScript model does not load or run in PyTorch {version}, the libtorch of Triton "
                f"{triton_release}: {lines[-1] if lines else 'unknown error'}. Nothing was written."
            )
        loaded = np.load(outputs)
        return version, [[loaded[f"{i}/{k}"] for k in range(output_count)] for i in range(len(batches))]
