"""Process checks shared by the exporter (stale staging folders) and the local server (leftover runs)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); ``None``: no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def process_state(pid: int) -> str | None:
    """The state letter ``/proc/<pid>/stat`` gives (``R``, ``S``, ``Z`` …); ``None`` when there is no such process."""
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def parent_pid(pid: int) -> int | None:
    """The parent of process ``pid`` (1 once its parent died); ``None`` when there is no such process."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (all its threads); ``None`` when there is no such process."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15 of stat


def exited(pid: int) -> bool:
    """Whether process ``pid`` is gone or a zombie: either way it holds no sockets, files or memory any more."""
    return process_state(pid) in (None, "Z", "X")


def wait_exited(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` seconds until every process of ``pids`` has exited; return those still running.

    A killed process releases its ports only once the kernel has torn it down, a moment after the signal.
    """
    deadline = time.monotonic() + timeout
    waiting = list(pids)
    while True:
        waiting = [pid for pid in waiting if not exited(pid)]
        if not waiting or time.monotonic() >= deadline:
            return waiting
        time.sleep(0.02)
