"""Who used the CPUs while a load level ran: Triton's own process, each model's stubs, the load generator, the rest.

The in-process ceiling gives the model every core; served, the model's instances share them with the
tokenizer, Triton's front end and ensemble scheduler, and the load generator on the same machine. Each
:class:`CpuSplit` says how much of the machine each of those took, read from ``/proc`` (Linux only).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from benchmarks.machine import busy_cpu_seconds, cpu_count
from server.health import stubs
from tritonize.processes import cpu_seconds

#: The role of the server's own process, of this process's finished children (perf_analyzer, client runs), and
#: of everything else that ran on the machine meanwhile.
TRITON, LOAD_GENERATOR, OTHER = "triton", "load generator", "other"


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
    """CPU seconds of the server process and of each model's live stubs (:func:`server.health.stubs`)."""
    roles = {TRITON: cpu_seconds(server_pid) or 0.0}
    for stub in stubs(server_pid)[0]:
        seconds = cpu_seconds(stub.pid)
        if seconds is not None:
            roles[stub.model] = roles.get(stub.model, 0.0) + seconds
    times = os.times()
    roles[LOAD_GENERATOR] = times.children_user + times.children_system
    return CpuSample(roles, busy_cpu_seconds(), cpu_count())


def split(before: CpuSample, after: CpuSample, wall_s: float) -> CpuSplit:
    """Shares of the cores each role took between ``before`` and ``after``, ``wall_s`` seconds apart."""
    capacity = max(wall_s, 1e-9) * after.cpus
    shares = {role: max(0.0, seconds - before.roles.get(role, 0.0)) / capacity
              for role, seconds in after.roles.items()}
    busy = min(1.0, max(0.0, after.machine - before.machine) / capacity)
    shares[OTHER] = max(0.0, busy - sum(shares.values()))
    return CpuSplit(shares, max(0.0, 1.0 - sum(shares.values())))


class Meter:
    """Splits of consecutive stretches of time: each :meth:`lap` covers the time since the previous one."""

    def __init__(self, server_pid: int) -> None:
        self._pid = server_pid
        self._last, self._at = sample(server_pid), time.perf_counter()

    def lap(self) -> CpuSplit:
        """Who used the cores since the previous lap (or since the meter was made)."""
        now, at = sample(self._pid), time.perf_counter()
        used = split(self._last, now, at - self._at)
        self._last, self._at = now, at
        return used
