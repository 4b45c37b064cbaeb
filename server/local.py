"""Run the real Triton Inference Server 2.51 (bundled in nvidia-pytriton) on a model repository, on this machine.

``tritonserver`` runs as a subprocess in a process group of its own, on a shadow of the repository (see
:mod:`server.shadow`) where models of backends the bundled server lacks are served by Python-backend
adapters. Stopping kills the whole group, so no ``triton_python_backend_stub`` outlives the server. While
it serves, a watchdog (:mod:`server.watchdog`) reloads any model whose stub process died.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from server import leftovers, reaper, triton_log
from server.bundle import TritonBundle
from server.config_rewrite import Translation, describe
from server.errors import (
    ModelLoadError,
    PortInUseError,
    ServerError,
    ServerExitedError,
    ServerStartError,
    UsageError,
)
from server.flags import API_KEY_HEADER, ModelControlMode, ServerFlags
from server.gpu import visible_gpu_count
from server.ports import check_free, free_ports
from server.shadow import ShadowRepository, plan
from server.watchdog import Heal, Watchdog
from tritonize import local_http

logger = logging.getLogger(__name__)

#: How often the shadow follows the user's repository in ``poll`` and ``explicit`` modes.
SYNC_INTERVAL_S = 1.0
#: How long Triton waits, once told to stop, for in-flight requests and open client connections.
EXIT_TIMEOUT_S = 3
#: How long a stop waits beyond that for Triton to unload its models before it kills the process group.
UNLOAD_TIMEOUT_S = 10.0

_PROTOCOLS = ("http", "grpc", "metrics")


@dataclass(frozen=True)
class ModelStatus:
    """One entry of Triton's repository index.

    Attributes:
        name: Model name.
        version: Version (empty for a model that never loaded).
        state: ``READY``, ``UNAVAILABLE``, ``LOADING``, ...
        reason: Why it is not ready, if it is not.
    """

    name: str
    version: str
    state: str
    reason: str = ""


class LocalTriton:
    """The bundled Triton serving ``repository`` until :meth:`stop`; a context manager.

    Example::

        with LocalTriton("model_repository") as server:        # free ports, waits until ready
            client = tritonclient.http.InferenceServerClient(server.http_url)

    Attributes:
        repository: The user's repository (resolved); never written.
        ready_timeout: Seconds :meth:`start` waits for ``/v2/health/ready``.
        startup_seconds: How long the last :meth:`start` took until ready.
    """

    def __init__(self, repository: str | os.PathLike[str], *, http_port: int | None = None,
                 grpc_port: int | None = None, metrics_port: int | None = None,
                 model_control_mode: ModelControlMode = "none", repository_poll_secs: int = 5,
                 ready_timeout: float = 120.0, log_path: str | os.PathLike[str] | None = None,
                 log_verbose: int = 0, gpu_count: int | None = None, exit_timeout_secs: int = EXIT_TIMEOUT_S,
                 heal: bool = True, host: str = "127.0.0.1", api_key: str | None = None) -> None:
        """Prepare a server; nothing starts before :meth:`start` (or ``with``).

        Args:
            repository: The Triton model repository to serve, unchanged.
            http_port: HTTP port; ``None`` picks a free one.
            grpc_port: gRPC port; ``None`` picks a free one.
            metrics_port: Metrics port; ``None`` picks a free one.
            model_control_mode: ``none``, ``poll`` (new versions are picked up) or ``explicit``.
            repository_poll_secs: How often ``poll`` mode rescans.
            ready_timeout: Seconds to wait until the server and every model are ready.
            log_path: Keep Triton's log in this file; ``None`` keeps it in a temporary folder until stop.
            log_verbose: Triton's verbose log level.
            gpu_count: GPUs to plan for; ``None`` counts the visible ones (0 turns GPU instances into CPU ones).
            exit_timeout_secs: How long Triton, once stopping, waits for in-flight requests and open client
                connections (Triton's own default, 30 s, is meant for container orchestrators).
            heal: Reload a model whose Python-backend stub process died (see :mod:`server.watchdog`). So that
                it can, ``none`` mode runs Triton in ``explicit`` mode with every model loaded at start.
            host: Interface HTTP, gRPC and metrics listen on; only this machine reaches the default.
            api_key: Require this key (header :data:`server.flags.API_KEY_HEADER`) for the administrative APIs
                (:data:`server.flags.RESTRICTED_APIS`); the server's own reloads send it.
        """
        if model_control_mode not in ("none", "poll", "explicit"):
            raise UsageError(f"Invalid model control mode '{model_control_mode}': use none, poll or explicit.")
        self.repository = Path(repository).resolve()
        self.ready_timeout = ready_timeout
        self.startup_seconds: float | None = None
        self._asked_ports = {"http": http_port, "grpc": grpc_port, "metrics": metrics_port}
        self._ports: dict[str, int] = {}
        self._mode: ModelControlMode = model_control_mode
        self._poll_secs = repository_poll_secs
        self._log_verbose = log_verbose
        self._gpu_count = gpu_count
        self._exit_timeout = exit_timeout_secs
        self._kept_log = Path(log_path).resolve() if log_path is not None else None
        self._log_path: Path | None = self._kept_log
        self._workdir: Path | None = None
        self._shadow: ShadowRepository | None = None
        self._process: subprocess.Popen | None = None
        self._log_file = None
        self._shm_prefix = f"tritonize_{uuid.uuid4().hex[:12]}_"
        self._stop_sync = threading.Event()
        self._sync_thread: threading.Thread | None = None
        self._reaper: reaper.Reaper | None = None
        self._heal = heal
        self._watchdog: Watchdog | None = None
        self.host = host
        self._api_key = api_key

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> LocalTriton:
        """Build the shadow repository, start ``tritonserver`` and wait until it is ready.

        Raises:
            RepositoryError: The repository cannot be read.
            PortInUseError: A port is taken.
            ModelLoadError: Triton could not load a model (its own error lines are in the message).
            ServerStartError: Triton exited or was not ready within ``ready_timeout``.
            BundleError: nvidia-pytriton is not installed.
        """
        if self._process is not None:
            raise UsageError("This server is already started.")
        began = time.perf_counter()
        try:
            self._launch()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - began
        if self._mode != "none":
            self._stop_sync.clear()
            self._sync_thread = threading.Thread(target=self._follow_repository, name="tritonize-shadow-sync",
                                                 daemon=True)
            self._sync_thread.start()
        if self._heal:
            assert self._process is not None
            self._watchdog = Watchdog(self._process.pid, self._reload_model).start()
        return self

    def stop(self) -> int | None:
        """Stop Triton and every process of its group; idempotent.

        Triton gets SIGTERM and ``exit_timeout_secs`` to finish in-flight requests, then some seconds to
        unload its models; after that, or on a second Ctrl-C, the whole process group gets SIGKILL.

        Returns:
            Triton's exit code, or ``None`` when it was not running.
        """
        atexit.unregister(self.stop)
        if self._watchdog is not None:
            self._watchdog.stop()
        self._stop_sync.set()
        if self._sync_thread is not None and self._sync_thread is not threading.current_thread():
            self._sync_thread.join()
        self._sync_thread = None
        code = None
        if self._process is not None:
            code = _reap(self._process, 0)
            if code is None:
                _signal_group(self._process.pid, signal.SIGTERM)
                try:
                    code = _reap(self._process, self._exit_timeout + UNLOAD_TIMEOUT_S)
                except KeyboardInterrupt:
                    code = None
                if code is None:
                    _signal_group(self._process.pid, signal.SIGKILL)
                    code = _reap(self._process, None)
            _signal_group(self._process.pid, signal.SIGKILL)  # stubs that outlived their server, if any
            self._process = None
            _remove_shared_memory(self._shm_prefix)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            self._shadow = None
            self._log_path = self._kept_log
        reaper.release(self._reaper)
        self._reaper = None
        return code

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait until Triton exits; return its exit code (``None`` on timeout or when not started)."""
        if self._process is None:
            return None
        return _reap(self._process, timeout)

    def serve(self, report: Callable[[triton_log.LoadFailure], None] | None = None, interval: float = 1.0,
              stop: threading.Event | None = None) -> None:
        """Block while Triton serves, until ``stop`` is set (or Ctrl-C), reporting late load failures.

        Args:
            report: Called with each model version that fails to load after start (a new version in
                ``poll`` mode, a load request in ``explicit`` mode).
            interval: How often the log and the process are checked.
            stop: Set it (from a signal handler, another thread) to return; the server keeps running until
                :meth:`stop`.

        Raises:
            ServerExitedError: Triton exited on its own.
        """
        if self._process is None:
            raise UsageError("Start the server before serve().")
        _, offset = self.load_failures()
        reported: dict[tuple[str, int], str] = {}  # Triton retries a failed version on every poll: report changes
        stop = stop if stop is not None else threading.Event()
        while not stop.wait(interval):
            code = self.wait(0)
            if code is not None:
                raise ServerExitedError(code, triton_log.tail(self.log_text()))
            failures, offset = self.load_failures(offset)
            for failure in failures:
                if report is not None and reported.get((failure.model, failure.version)) != failure.detail:
                    report(failure)
                reported[failure.model, failure.version] = failure.detail

    def __enter__(self) -> LocalTriton:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    # -- what clients need ---------------------------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        """HTTP address as tritonclient and perf_analyzer take it (``127.0.0.1:8000``, no scheme)."""
        return f"127.0.0.1:{self._port('http')}"

    @property
    def grpc_url(self) -> str:
        """The gRPC address as tritonclient and perf_analyzer take it (``127.0.0.1:8001``)."""
        return f"127.0.0.1:{self._port('grpc')}"

    @property
    def metrics_url(self) -> str:
        """The metrics address without scheme, like the others: ``127.0.0.1:8002`` (scraped at ``/metrics``)."""
        return f"127.0.0.1:{self._port('metrics')}"

    @property
    def ports(self) -> dict[str, int]:
        """The ports in use: ``{"http": ..., "grpc": ..., "metrics": ...}``."""
        return {protocol: self._port(protocol) for protocol in _PROTOCOLS}

    @property
    def log_path(self) -> Path | None:
        """Triton's log file (removed at stop unless ``log_path`` was given)."""
        return self._log_path

    @property
    def pid(self) -> int | None:
        """Process id of ``tritonserver`` (also its process group id)."""
        return self._process.pid if self._process is not None else None

    @property
    def shadow_root(self) -> Path | None:
        """The shadow repository Triton loads, while running."""
        return self._shadow.root if self._shadow is not None else None

    @property
    def translations(self) -> list[Translation]:
        """How each model is served (the plan of the last shadow sync, or a fresh plan before start)."""
        if self._shadow is not None and self._shadow.translations:
            return self._shadow.translations
        return plan(self.repository, self._gpus())

    def sync_repository(self) -> list[Translation]:
        """Bring the shadow in line with the repository now, before a load request (``explicit`` mode).

        ``poll`` and ``explicit`` modes follow the repository every second anyway; a caller that just rewrote a
        config and asks Triton to load it calls this first, so the load reads the new config.

        Raises:
            UsageError: The server is not running.
            RepositoryError: The repository cannot be read or the shadow written.
        """
        if self._shadow is None:
            raise UsageError("Start the server before sync_repository().")
        return self._shadow.sync()

    def explain(self) -> str:
        """Model by model: what serves it, and every change made for the bundled server."""
        return describe(str(self.repository), self.translations, self._gpus())

    def log_text(self, offset: int = 0) -> str:
        """Triton's log so far, from byte ``offset`` to the last complete line."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        with open(self._log_path, "rb") as log:
            log.seek(offset)
            data = log.read()
        return data[:data.rfind(b"\n") + 1].decode(errors="replace")

    def load_failures(self, offset: int = 0) -> tuple[list[triton_log.LoadFailure], int]:
        """Models Triton failed to load, in the log from byte ``offset``; and the offset to read on from.

        While serving in ``poll`` mode, a newly exported version that does not load shows up here.
        """
        text = self.log_text(offset)
        failures = triton_log.load_failures(text)
        if self._shadow is not None:  # name the user's files, not their shadow copies
            failures = [triton_log.with_user_paths(f, str(self._shadow.root), str(self.repository)) for f in failures]
        return failures, offset + len(text.encode())

    @property
    def heals(self) -> list[Heal]:
        """Every Python-backend stub that died while serving, and how its model was reloaded."""
        return list(self._watchdog.heals) if self._watchdog is not None else []

    def is_ready(self) -> bool:
        """``/v2/health/ready`` answers 200 (with strict readiness: every model is ready)."""
        status, _ = self._call("GET", "/v2/health/ready")
        return status == 200

    def models(self) -> list[ModelStatus]:
        """Triton's repository index: every model it knows, with its state."""
        status, body = self._call("POST", "/v2/repository/index", b"{}")
        if status != 200:
            raise ServerStartError(f"Triton did not answer its repository index (HTTP {status}).")
        return [ModelStatus(m["name"], m.get("version", ""), m.get("state", ""), m.get("reason", ""))
                for m in json.loads(body)]

    # -- internals -------------------------------------------------------------------------------------------

    def _launch(self) -> None:
        plan(self.repository, 0)  # a missing repository fails here, before any work
        for leftover in leftovers.find():  # before the ports are checked: leftovers may hold them
            logger.warning("removed what an earlier local Triton left running (its starter was killed): %s",
                           leftover.describe())
            leftovers.remove(leftover)
        self._ports = self._choose_ports()
        bundle = TritonBundle.find()
        self._workdir = Path(tempfile.mkdtemp(prefix=leftovers.WORKDIR_PREFIX))
        leftovers.mark_owner(self._workdir)
        backends = bundle.prepare_backends(self._workdir / "backends")
        self._shadow = ShadowRepository(self.repository, self._workdir / "repository", self._gpus())
        translations = self._shadow.sync()
        if not translations:
            logger.warning("%s holds no models yet: export one with python -m export", self.repository)
        for translation in translations:
            for note in translation.notes:
                logger.info("%s: %s", translation.name, note)
        flags = ServerFlags(
            model_repository=str(self._shadow.root), http_port=self._ports["http"], grpc_port=self._ports["grpc"],
            metrics_port=self._ports["metrics"], model_control_mode=self._triton_mode,
            repository_poll_secs=self._poll_secs, log_verbose=self._log_verbose,
            load_models=("*",) if self._triton_mode != self._mode else (),
            address=self.host, api_key=self._api_key,
        )
        command = [
            str(bundle.executable), *flags.to_args(), f"--backend-directory={backends}",
            f"--exit-timeout-secs={self._exit_timeout}",
            # A prefix of our own keeps the shared memory of parallel servers apart.
            f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}",
        ]
        self._log_path = self._kept_log or self._workdir / "tritonserver.log"
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self._log_path, "wb")  # noqa: SIM115 - open while the server runs
        logger.debug("starting %s", " ".join(command))
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            env=bundle.environment(), cwd=self._workdir, start_new_session=True,
        )
        self._reaper = reaper.watch(self._process.pid, self._workdir, self._shm_prefix)  # even if we are killed
        atexit.register(self.stop)

    @property
    def _triton_mode(self) -> ModelControlMode:
        """The mode Triton runs in: ``none`` becomes ``explicit`` with every model loaded, when healing."""
        return "explicit" if self._heal and self._mode == "none" else self._mode

    def _reload_model(self, name: str) -> str:
        """Reload model ``name`` with fresh instances; return Triton's error, empty on success.

        ``explicit`` mode asks the repository API. ``poll`` mode, where that API is refused, touches the
        model's folder in the shadow, so that the next poll sees it modified and reloads it.
        """
        if self._triton_mode == "poll":
            folder = self._shadow.root / name if self._shadow is not None else None
            if folder is None or not folder.is_dir() or folder.is_symlink():
                return f"{name} is not mirrored in the shadow repository"
            os.utime(folder)
            return ""
        status, body = self._call("POST", f"/v2/repository/models/{name}/load", b"{}", timeout=60.0)
        if status == 200:
            return ""
        with contextlib.suppress(ValueError, AttributeError):
            return str(json.loads(body).get("error", body.decode(errors="replace")))
        return f"HTTP {status}"

    def _choose_ports(self) -> dict[str, int]:
        asked = {p: port for p, port in self._asked_ports.items() if port is not None}
        if len(set(asked.values())) < len(asked):
            raise UsageError(f"The HTTP, gRPC and metrics ports must differ (got {asked}).")
        for protocol, port in asked.items():
            check_free(port, protocol)
        free = iter(p for p in free_ports(len(_PROTOCOLS) + len(asked)) if p not in asked.values())
        return {protocol: asked.get(protocol) or next(free) for protocol in _PROTOCOLS}

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout
        while True:
            code = _reap(self._process, 0)
            if code is not None:
                raise self._failure(f"Triton exited with code {code} before it was ready.")
            if self.is_ready() and self._metrics_up():
                return
            if time.monotonic() > deadline:
                raise self._failure(f"Triton was not ready after {self.ready_timeout:g} s.")
            time.sleep(0.05)

    def _failure(self, what: str) -> ServerError:
        """The most specific error Triton's log explains: a taken port, models that failed, or the log tail."""
        log = self.log_text()
        port = triton_log.busy_port(log)
        if port is not None:
            return PortInUseError(port[1], port[0])
        failures, _ = self.load_failures()
        if failures:
            for failure in failures:
                logger.debug("%s", failure.detail)
            return ModelLoadError([f.line for f in failures], str(self._kept_log) if self._kept_log else None)
        return ServerStartError(what, triton_log.tail(log))

    def _follow_repository(self) -> None:
        """Keep the shadow in line with the user's repository, for ``poll`` and ``explicit`` modes."""
        assert self._shadow is not None
        reported = ""
        while not self._stop_sync.wait(SYNC_INTERVAL_S):
            try:
                self._shadow.sync()
                reported = ""
            except ServerError as error:  # a half-deleted folder, a permission: retry on the next round
                if str(error) != reported:
                    logger.warning("shadow repository not updated: %s", error)
                    reported = str(error)

    def _metrics_up(self) -> bool:
        """The metrics endpoint answers: Triton opens it after HTTP and gRPC, so health alone can come first."""
        return local_http.request(f"http://127.0.0.1:{self._port('metrics')}/metrics", timeout=2.0).status == 200

    def _call(self, method: str, path: str, body: bytes | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
        headers = {API_KEY_HEADER: self._api_key} if self._api_key else {}
        answer = local_http.request(f"http://127.0.0.1:{self._port('http')}{path}", body, method=method,
                                    headers=headers, timeout=timeout)
        return answer.status, answer.body

    def _port(self, protocol: str) -> int:
        if protocol not in self._ports:
            raise UsageError("The server has no ports before start().")
        return self._ports[protocol]

    def _gpus(self) -> int:
        if self._gpu_count is None:
            self._gpu_count = visible_gpu_count()
        return self._gpu_count


def _remove_shared_memory(prefix: str) -> None:
    """Remove the Python backend's shared-memory regions that a killed server could not remove itself."""
    shm = Path("/dev/shm")
    if shm.is_dir():
        for region in shm.glob(f"{prefix}*"):
            with contextlib.suppress(OSError):
                region.unlink()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _reap(process: subprocess.Popen, timeout: float | None) -> int | None:
    """Wait up to ``timeout`` seconds (``None``: no limit) for ``process``; its exit code, ``None`` while it runs.

    Reaps with ``os.waitpid`` itself: ``Popen.wait`` and ``Popen.poll`` take an internal lock that a
    KeyboardInterrupt arriving inside them can leave held, after which every later ``wait`` blocks forever.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while process.returncode is None:
        try:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by a concurrent call of this function, which sets returncode next
            pid, status = 0, 0
            if deadline is None:
                deadline = time.monotonic() + 1.0
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            break
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.02)
    return process.returncode
