"""Helper processes of the local cluster (HAProxy, Prometheus): started from a temporary folder, stopped by group."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from deploy.errors import ClusterError, ToolMissingError
from tritonize import local_http


def executable(program: str, package: str) -> str:
    """Path of ``program``, or an error saying which Debian package brings it."""
    found = shutil.which(program) or next(
        (str(p) for p in (Path("/usr/sbin") / program, Path("/usr/bin") / program) if p.is_file()), None)
    if found is None:
        raise ToolMissingError(program, f"run `make setup` as root, or `sudo apt-get install -y {package}`.")
    return found


class Process:
    """A program running unprivileged-style from ``workdir`` in its own process group, its output in a log file.

    Attributes:
        name: What it is (for messages).
        log_path: Its standard output and error.
    """

    def __init__(self, name: str, command: Sequence[str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - open while the process runs
        self._process = subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)

    @property
    def pid(self) -> int:
        """Process id (also its process group)."""
        return self._process.pid

    def running(self) -> bool:
        """Whether it has not exited."""
        return self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The end of its log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        """Wait until ``url`` answers 200; raise :class:`ClusterError` if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ClusterError(f"{self.name} exited with code {self._process.returncode}:\n{self.log_tail()}")
            if http_status(url) == 200:
                return
            time.sleep(0.1)
        raise ClusterError(f"{self.name} did not answer {url} within {timeout:g} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL after ``timeout``; idempotent."""
        if self._process.poll() is None:
            _signal_group(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self._process.pid, signal.SIGKILL)
                self._process.wait()
        _signal_group(self._process.pid, signal.SIGKILL)
        self._log.close()


def http_status(url: str, timeout: float = 2.0) -> int:
    """HTTP status of a GET (0 when nothing answers)."""
    return local_http.request(url, timeout=timeout).status


def get(url: str, timeout: float = 5.0) -> bytes:
    """The body of a GET that must succeed."""
    with local_http.DIRECT.open(url, timeout=timeout) as response:
        return response.read()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
