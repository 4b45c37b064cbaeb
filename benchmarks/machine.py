"""What the benchmark ran on, and how busy other processes kept the CPUs (the machine is shared)."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over ``seconds`` (from ``/proc/stat``); 0 where it cannot be read."""
    first = _cpu_times()
    if first is None:
        return 0.0
    time.sleep(seconds)
    second = _cpu_times()
    if second is None:
        return 0.0
    total = sum(second) - sum(first)
    idle = (second[3] + second[4]) - (first[3] + first[4])
    return max(0.0, 1.0 - idle / total) if total > 0 else 0.0


def describe_machine() -> dict[str, object]:
    """CPU model and count, library versions and the load average, for the JSON summary."""
    import onnxruntime

    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), "")
    return {"cpu": model or platform.processor(), "cpus": cpu_count(), "onnxruntime": onnxruntime.__version__,
            "python": platform.python_version(), "load_average": list(os.getloadavg())}


def cpu_count() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def busy_cpu_seconds() -> float:
    """Busy CPU seconds of all cores together since boot (``/proc/stat``: all but idle and iowait); 0 if unreadable."""
    times = _cpu_times()
    return (sum(times) - times[3] - times[4]) / os.sysconf("SC_CLK_TCK") if times else 0.0


def _cpu_times() -> list[int] | None:
    try:
        line = Path("/proc/stat").read_text().splitlines()[0]
    except OSError:
        return None
    return [int(value) for value in line.split()[1:9]]
