"""Stop a local Triton when the process that started it dies, however it dies (SIGKILL included).

The starting process keeps the write end of a pipe whose read end is the stdin of a small watcher process
(this file, run as a script with the standard library only, in a session of its own). The kernel closes the
write end when the starter exits for any reason; the watcher then reads end-of-file and kills Triton's process
group (the server and its Python-backend stubs), removes the temporary folder and the shared-memory regions.
A clean stop writes :data:`DONE` first, and the watcher leaves without touching anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: What a clean stop writes to the watcher before closing the pipe.
DONE = b"done"
#: How long the watcher waits after SIGTERM before it kills the group.
GRACE_S = 2.0


@dataclass
class Reaper:
    """A running watcher and the pipe end that keeps it waiting.

    Attributes:
        process: The watcher process.
        pipe: Write end of its stdin; closing it (or the starter's death) makes it act.
    """

    process: subprocess.Popen
    pipe: int


def watch(pgid: int, workdir: Path, shm_prefix: str) -> Reaper:
    """Start a watcher that cleans up process group ``pgid``, ``workdir`` and shared memory if we die."""
    read_end, write_end = os.pipe()  # both ends non-inheritable: Triton's processes hold neither
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).resolve()), str(pgid), str(workdir), shm_prefix],
            stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return Reaper(process, write_end)


def release(reaper: Reaper | None) -> None:
    """Tell the watcher that the server stopped cleanly, and wait for it to leave."""
    if reaper is None:
        return
    with contextlib.suppress(OSError):
        os.write(reaper.pipe, DONE)
    with contextlib.suppress(OSError):
        os.close(reaper.pipe)
    try:
        reaper.process.wait(5)
    except subprocess.TimeoutExpired:
        reaper.process.kill()
        reaper.process.wait()


def reap(pgid: int, workdir: Path, shm_prefix: str) -> None:
    """Stop process group ``pgid`` (SIGTERM, then SIGKILL), remove ``workdir`` and the shared-memory regions."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)
    shutil.rmtree(workdir, ignore_errors=True)
    shm = Path("/dev/shm")
    if shm_prefix and shm.is_dir():
        for region in shm.glob(f"{shm_prefix}*"):
            with contextlib.suppress(OSError):
                region.unlink()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _main(argv: list[str]) -> None:
    pgid, workdir, shm_prefix = int(argv[0]), Path(argv[1]), argv[2]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.stdin.buffer.read() != DONE:
        reap(pgid, workdir, shm_prefix)


if __name__ == "__main__":
    _main(sys.argv[1:])
