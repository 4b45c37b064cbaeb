"""Drive NVIDIA's perf_analyzer (shipped in the tritonclient wheel) with real inputs, one run per load level."""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
import struct
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from client.errors import PerfAnalyzerError

MISSING_MESSAGE = (
    "perf_analyzer is not available: {reason}. It ships in the tritonclient wheel "
    "(pip install 'tritonclient[all]==2.51.0' nvidia-cuda-runtime-cu12) and needs libb64 "
    "(sudo apt-get install -y libb64-0d); on GPU hosts the nvcr.io/nvidia/tritonserver:<release>-py3-sdk "
    "container has it ready."
)


@dataclass(frozen=True)
class LoadLevel:
    """One point of a sweep: a number of requests in flight, or a request rate per second."""

    concurrency: int | None = None
    request_rate: float | None = None

    def args(self) -> list[str]:
        """perf_analyzer arguments for this level."""
        if self.request_rate is not None:
            return ["--request-rate-range", f"{self.request_rate:g}"]
        return ["--concurrency-range", str(self.concurrency)]

    @property
    def label(self) -> str:
        """``c8`` or ``r100``."""
        return f"r{self.request_rate:g}" if self.request_rate is not None else f"c{self.concurrency}"


@dataclass(frozen=True)
class PerfSettings:
    """How perf_analyzer measures.

    Attributes:
        url: Server address without scheme (``localhost:8000``).
        protocol: ``http`` or ``grpc``.
        measurement_interval_ms: Length of one measurement window.
        stability_percentage: Windows must agree within this percentage.
        max_trials: Windows tried before giving up on stability.
        batch_size: Texts (rows) per request.
        extra_args: Passed to perf_analyzer as they are.
    """

    url: str
    protocol: str = "http"
    measurement_interval_ms: int = 3000
    stability_percentage: int = 10
    max_trials: int = 10
    batch_size: int = 1
    extra_args: tuple[str, ...] = field(default_factory=tuple)


def find_perf_analyzer() -> Path:
    """The perf_analyzer binary of this environment.

    Raises:
        PerfAnalyzerError: It is missing or cannot start (missing shared libraries).
    """
    candidates = [Path(sys.executable).parent / "perf_analyzer", Path(sysconfig.get_path("scripts")) / "perf_analyzer"]
    found = next((c for c in candidates if c.is_file()), None) or (
        Path(which) if (which := shutil.which("perf_analyzer")) else None)
    if found is None:
        raise PerfAnalyzerError(MISSING_MESSAGE.format(reason="no perf_analyzer binary in this environment"))
    check = subprocess.run([str(found), "--version"], capture_output=True, text=True, env=environment())
    if "error while loading shared libraries" in check.stderr:
        reason = check.stderr.strip().splitlines()[-1].split(": ", 1)[-1]
        raise PerfAnalyzerError(MISSING_MESSAGE.format(reason=reason))
    return found


def environment() -> dict[str, str]:
    """The process environment with libcudart (from nvidia-cuda-runtime-cu12) on the library path."""
    env = dict(os.environ)
    paths = []
    try:
        import nvidia.cuda_runtime

        paths.append(str(Path(next(iter(nvidia.cuda_runtime.__path__))) / "lib"))
    except ImportError:
        pass
    if env.get("LD_LIBRARY_PATH"):
        paths.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(paths)
    return env


def text_input_data(input_name: str, texts: Sequence[str]) -> dict:
    """perf_analyzer ``--input-data`` JSON for a text model: one text per entry (``-b`` stacks entries)."""
    return {"data": [{input_name: {"content": [text], "shape": [1]}} for text in texts]}


def image_input_data(input_name: str, images: Sequence[bytes]) -> dict:
    """perf_analyzer ``--input-data`` JSON for an image ensemble: one encoded image per entry.

    perf_analyzer reads ``b64`` of a BYTES tensor as Triton's serialized form (each element prefixed by its
    4-byte little-endian length), not as the element itself.
    """
    return {"data": [{input_name: {"b64": base64.b64encode(struct.pack("<I", len(data)) + data).decode("ascii"),
                                   "shape": [1]}} for data in images]}


def tensor_input_data(requests: Sequence[dict[str, np.ndarray]]) -> dict:
    """perf_analyzer ``--input-data`` JSON for a tensor model: one entry per request, its own shape."""
    return {"data": [
        {name: {"content": array.reshape(-1).tolist(), "shape": list(array.shape[1:])}
         for name, array in request.items()}
        for request in requests
    ]}


def run_level(model: str, level: LoadLevel, settings: PerfSettings, input_data: Path, csv_path: Path,
              binary: Path | None = None) -> dict[str, float]:
    """Measure ``model`` at one load level; return perf_analyzer's CSV row (numbers, µs for latencies).

    Raises:
        PerfAnalyzerError: perf_analyzer failed; the message carries its own last error line.
    """
    command = [
        str(binary or find_perf_analyzer()), "-m", model, "-u", settings.url, "-i", settings.protocol,
        "-b", str(settings.batch_size), "--input-data", str(input_data), *level.args(),
        "--measurement-interval", str(settings.measurement_interval_ms),
        "--stability-percentage", str(settings.stability_percentage), "--max-trials", str(settings.max_trials),
        "-f", str(csv_path), "--verbose-csv", *settings.extra_args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=environment())
    if result.returncode != 0 or not csv_path.is_file():
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        said = [line.strip() for line in result.stderr.splitlines() if line.strip()]  # its own complaint, if any
        reason = next((line for line in reversed(lines) if "rror" in line or line.startswith("Failed")),
                      said[-1] if said else lines[-1] if lines else "no output")
        if "larger time window" in reason:
            reason += " (raise --measurement-interval)"
        if "stable" in reason:
            reason += " (a busy machine? raise --measurement-interval or --stability-percentage)"
        raise PerfAnalyzerError(f"perf_analyzer failed on {model} at {level.label}: {reason.strip()}")
    return read_csv(csv_path)[0]


def read_csv(path: Path) -> list[dict[str, float]]:
    """perf_analyzer's CSV rows as numbers (its server-side section, if any, is dropped)."""
    rows = []
    with path.open() as handle:
        for row in csv.DictReader(handle):
            if not row.get("Inferences/Second"):
                break
            rows.append({key: float(value) for key, value in row.items() if key and _is_number(value)})
    return rows


def sweep(model: str, levels: Sequence[LoadLevel], settings: PerfSettings, input_data: dict, workdir: Path,
          on_level: Callable[[LoadLevel, dict[str, float]], None] | None = None,
          on_failure: Callable[[LoadLevel, PerfAnalyzerError], None] | None = None) -> list[dict[str, float]]:
    """Run every level in order, calling ``on_level`` after each; rows come back in level order.

    Args:
        model: The model measured.
        levels: Load levels, in the order to run them.
        settings: perf_analyzer's URL, protocol and windows.
        input_data: perf_analyzer ``--input-data`` JSON, written into ``workdir``.
        workdir: Where the input and each level's CSV go.
        on_level: Called with each measured level and its CSV row.
        on_failure: Called with a level perf_analyzer failed on (unstable windows, a timeout), which is then left
            out and the sweep goes on; without it the first failure ends the sweep.

    Raises:
        PerfAnalyzerError: perf_analyzer is missing, or a level failed and no ``on_failure`` was given.
    """
    binary = find_perf_analyzer()
    workdir.mkdir(parents=True, exist_ok=True)
    data_path = workdir / f"{model}-input.json"
    data_path.write_text(json.dumps(input_data))
    rows = []
    for level in levels:
        try:
            row = run_level(model, level, settings, data_path, workdir / f"{model}-{level.label}.csv", binary)
        except PerfAnalyzerError as error:
            if on_failure is None:
                raise
            on_failure(level, error)
            continue
        row.setdefault("Concurrency", float(level.concurrency or 0))
        if level.request_rate is not None:
            row["Request Rate"] = level.request_rate
        rows.append(row)
        if on_level:
            on_level(level, row)
    return rows


def _is_number(value: str | None) -> bool:
    try:
        float(value or "")
    except ValueError:
        return False
    return True
