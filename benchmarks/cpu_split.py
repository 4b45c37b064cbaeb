"""Who used the CPUs while a load level ran: Triton's own process, each model's stubs, the load generator, the rest.

The in-process ceiling gives the model every core; served, the model's instances share them with the
tokenizer, Triton's front end and ensemble scheduler, and the load generator on the same machine. Each
:class:`CpuSplit` says how much of the machine each of those took, read from ``/proc`` (Linux only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The role of the server's own process, of this process's finished children (perf_analyzer, client runs), and
#: of everything else that ran on the machine meanwhile.
TRITON, LOAD_GENERATOR, OTHER = "triton", "load generator", "other"
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far, by role, and of the whole machine, at one moment.

    Attributes:
        roles: CPU seconds by role: :data:`TRITON`, a model name for its Python-backend stubs,
            :data:`LOAD_GENERATOR`.
        machine: Busy CPU seconds of every core together (from ``/proc/stat``).
        cpus: Cores this process may use.
    """

    roles: dict[str, float]
    machine: float
    cpus: int


@dataclass(frozen=True)
class CpuSplit:
    """Share of the machine's cores each role used between two samples.

    Attributes:
        shares: Role → CPU seconds used / (wall seconds × cores); :data:`OTHER` is the machine's busy time
            that none of the roles account for. The shares sum to the machine's busy share (at most 1).
        idle: Share of the cores left idle.
    """

    shares: dict[str, float]
    idle: float

    def share(self, prefix: str) -> float:
        """Sum of the shares of roles whose name starts with ``prefix`` (e.g. a model's base name)."""
        return sum(value for role, value in self.shares.items() if role.startswith(prefix))


def sample(server_pid: int) -> CpuSample:
    """CPU seconds of the server process and of each model's stubs (children named by their ``model.py``)."""
    roles = {TRITON: _process_seconds(server_pid) or 0.0}
    for pid in _children(server_pid):
        model = _stub_model(pid)
        seconds = _process_seconds(pid)
        if model and seconds is not None:
            roles[model] = roles.get(model, 0.0) + seconds
    times = os.times()
    roles[LOAD_GENERATOR] = times.children_user + times.children_system
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return CpuSample(roles, _machine_seconds(), cpus)


def split(before: CpuSample, after: CpuSample, wall_s: float) -> CpuSplit:
    """Shares of the cores each role took between ``before`` and ``after``, ``wall_s`` seconds apart."""
    capacity = max(wall_s, 1e-9) * after.cpus
    shares = {role: max(0.0, seconds - before.roles.get(role, 0.0)) / capacity
              for role, seconds in after.roles.items()}
    busy = min(1.0, max(0.0, after.machine - before.machine) / capacity)
    shares[OTHER] = max(0.0, busy - sum(shares.values()))
    return CpuSplit(shares, max(0.0, 1.0 - max(busy, sum(shares.values()))))


def _process_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (all its threads), or ``None`` when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of stat)


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children.extend(int(child) for child in task.read_text().split())
        except OSError:
            continue
    return children


def _stub_model(pid: int) -> str | None:
    """The model a Python-backend stub serves (its first argument is ``<repository>/<model>/<version>/model.py``)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if len(argv) < 2 or not argv[0].endswith(b"triton_python_backend_stub"):
        return None
    parts = Path(argv[1].decode(errors="replace")).parts
    return parts[-3] if len(parts) >= 3 else None


def _machine_seconds() -> float:
    """Busy CPU seconds of all cores since boot (``/proc/stat``: everything but idle and iowait)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except OSError:
        return 0.0
    return (sum(values) - values[3] - values[4]) / _TICK
