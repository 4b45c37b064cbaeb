"""The gateway as a child process: what ``python -m server --gateway-port``, the tests and the benchmark start.

Standard library only, so a caller without the ``gateway`` extra can import it (the child fails with a clear
message when FastAPI or uvicorn is missing).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from tritonize.errors import TritonizeError

#: The liveness route polled until the child answers.
LIVE_PATH = "/health/live"
#: Seconds a stopping gateway gets before it is killed.
STOP_TIMEOUT_S = 10.0


class GatewayStartError(TritonizeError):
    """The gateway process exited or did not answer in time."""


class GatewayProcess:
    """``python -m gateway`` in front of one Triton, as a context manager.

    Args:
        triton_url: Triton's gRPC endpoint (``host:port``).
        port: HTTP port of the gateway.
        host: Address it listens on.
        repository: The served repository (for counting tokens with the tokenizer files).
        extra_args: More command-line options.
        env: Extra environment variables (API keys).
        start_timeout: Seconds to wait until it answers.
    """

    def __init__(self, triton_url: str, port: int, host: str = "127.0.0.1", repository: Path | None = None,
                 extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 start_timeout: float = 60.0) -> None:
        self.port = port
        self.host = host
        self.start_timeout = start_timeout
        self.args = [sys.executable, "-m", "gateway", "--triton", triton_url, "--host", host, "--port", str(port)]
        if repository is not None:
            self.args += ["--repository", str(repository)]
        self.args += list(extra_args)
        self.env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The gateway's base URL (``http://127.0.0.1:8080``)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process else None

    def start(self) -> GatewayProcess:
        """Start the child and wait until it answers :data:`LIVE_PATH`.

        Raises:
            GatewayStartError: It exited, or did not answer within ``start_timeout`` seconds.
        """
        self._process = subprocess.Popen(self.args, env=self.env, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                self._process = None
                raise GatewayStartError(f"The gateway exited with status {code} at start-up (see its messages above)")
            try:
                with urllib.request.urlopen(self.url + LIVE_PATH, timeout=1.0):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise GatewayStartError(f"The gateway did not answer on {self.url} within {self.start_timeout:.0f} s")

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_S`)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
