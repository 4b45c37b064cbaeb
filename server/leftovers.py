"""Find and remove what earlier local Tritons left behind when they could not stop (their starter was killed).

Every run keeps its files in a temporary folder ``tritonize-server-*`` holding an ``owner`` file with the pid
of the starting process. A folder is stale when that process is gone; a folder without ``owner`` (written
by an older tritonize) when every Triton process naming it has lost its parent, or none names it and it is
old. The processes of a stale folder (``tritonserver``, ``triton_python_backend_stub``) still hold ports and
memory: they are stopped, the folder and their shared memory removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tritonize.processes import parent_pid, pid_alive, process_state, wait_exited

#: Prefix of the temporary folder of each run.
WORKDIR_PREFIX = "tritonize-server-"
#: File in the folder naming the process that started the run.
OWNER_FILE = "owner"
#: A folder without owner file and without processes is stale after this long (it may be starting).
UNOWNED_AGE_S = 120.0
#: How long a removal waits for the killed processes to exit (and release their ports).
KILL_WAIT_S = 10.0

_SHM_PREFIX = re.compile(r"shm-region-prefix-name=(\S+)")


@dataclass(frozen=True)
class Leftover:
    """What one stale run left.

    Attributes:
        folder: Its temporary folder.
        processes: ``(pid, program name)`` of its live processes.
        shm_prefix: Prefix of its shared-memory regions, when its server's command line said.
    """

    folder: Path
    processes: tuple[tuple[int, str], ...]
    shm_prefix: str = ""

    def describe(self) -> str:
        """``tritonserver 123, triton_python_backend_stub 130 and /tmp/tritonize-server-x``."""
        parts = [f"{name} {pid}" for pid, name in self.processes]
        return ", ".join([*parts, str(self.folder)])


def mark_owner(workdir: Path) -> None:
    """Record this process as the owner of a run's folder."""
    (workdir / OWNER_FILE).write_text(f"{os.getpid()}\n")


def find(temp_root: Path | None = None) -> list[Leftover]:
    """Stale runs under ``temp_root`` (the system's temporary folder by default)."""
    root = Path(temp_root or tempfile.gettempdir())  # as mkdtemp names the folders, links unresolved
    processes = _processes_by_folder(root)
    found = []
    for folder in sorted(root.glob(f"{WORKDIR_PREFIX}*")):
        if not folder.is_dir():
            continue
        named = processes.get(folder.name, [])
        if _is_stale(folder, named):
            prefixes = [m.group(1) for _, _, _, command in named for m in [_SHM_PREFIX.search(command)] if m]
            found.append(Leftover(folder, tuple((pid, name) for pid, name, _, _ in named),
                                  prefixes[0] if prefixes else ""))
    return found


def remove(leftover: Leftover) -> None:
    """Kill the leftover's processes, remove its folder and shared memory."""
    pids = [pid for pid, _ in leftover.processes]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    wait_exited(pids, KILL_WAIT_S)  # their ports are free once they exited
    shutil.rmtree(leftover.folder, ignore_errors=True)
    shm = Path("/dev/shm")
    if leftover.shm_prefix and shm.is_dir():
        for region in shm.glob(f"{leftover.shm_prefix}*"):
            with contextlib.suppress(OSError):
                region.unlink()


def _is_stale(folder: Path, named: list[tuple[int, str, int, str]]) -> bool:
    try:
        owner = int((folder / OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        owner = None
    if owner is not None:
        return not pid_alive(owner)
    if named:
        return all(parent == 1 for _, _, parent, _ in named)
    try:
        return time.time() - folder.stat().st_mtime > UNOWNED_AGE_S
    except OSError:
        return False




def _processes_by_folder(root: Path) -> dict[str, list[tuple[int, str, int, str]]]:
    """``folder name → [(pid, program name, parent pid, command line)]`` of live processes naming a run folder."""
    pattern = re.compile(re.escape(f"{root}/") + f"({re.escape(WORKDIR_PREFIX)}[^/\\s]+)")
    found: dict[str, list[tuple[int, str, int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            match = pattern.search(command)
            if match is None:
                continue
        except OSError:
            continue
        pid = int(entry.name)
        state, parent = process_state(pid), parent_pid(pid)
        if state in (None, "Z") or parent is None:
            continue
        program = Path(command.split(" ", 1)[0]).name
        found.setdefault(match.group(1), []).append((pid, program, parent, command))
    return found
