"""A killed ``python -m server`` takes Triton, its stubs and its temporary folder with it; leftovers are found."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server import leftovers
from server.local import LocalTriton
from server.ports import check_free
from tests.support.server import build_repository, children, group_processes

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def small_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX model and a Python model: quick to serve, with two backend stubs."""
    root = tmp_path_factory.mktemp("leftover-repo")
    build_repository(root / "full", root / "work")
    for name in ("tiny_onnx", "tiny_tokenizer"):
        shutil.copytree(root / "full" / name, root / "repo" / name)
    return root / "repo"


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def start_and_wait(repository: Path) -> tuple[subprocess.Popen, int, int | None, Path, dict[str, int]]:
    """``python -m server`` until ready: the process, Triton's pid, the watcher's pid, the run folder, the ports."""
    from server.ports import free_ports

    ports = dict(zip(("http", "grpc", "metrics"), free_ports(3)))
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--repository", str(repository), "--http-port", str(ports["http"]),
         "--grpc-port", str(ports["grpc"]), "--metrics-port", str(ports["metrics"])],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        if line.startswith("Press Ctrl-C"):
            break
    kids = {pid: command_line(pid) for pid in children(process.pid)}
    (server_pid,) = [pid for pid, command in kids.items() if "tritonserver" in command]
    watchers = [pid for pid, command in kids.items() if "reaper.py" in command]
    folder = Path(command_line(server_pid).split("--model-repository=", 1)[1].split()[0]).parent
    assert any("triton_python_backend_stub" in command for _, command in group_processes(server_pid))
    return process, server_pid, watchers[0] if watchers else None, folder, ports


def wait_until(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def test_sigkill_of_the_server_command_stops_triton_and_its_stubs(small_repository: Path) -> None:
    process, server_pid, _, folder, ports = start_and_wait(small_repository)
    try:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert wait_until(lambda: not group_processes(server_pid)), group_processes(server_pid)
        assert wait_until(lambda: not folder.exists())
        for protocol, port in ports.items():
            check_free(port, protocol)
    finally:
        with_suppressed_kill(server_pid)


def test_next_start_removes_leftovers_of_a_run_whose_watcher_died_too(small_repository: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    process, server_pid, watcher_pid, folder, ports = start_and_wait(small_repository)
    try:
        assert watcher_pid is not None
        os.kill(watcher_pid, signal.SIGKILL)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        time.sleep(0.5)
        orphans = group_processes(server_pid)
        assert orphans and folder.is_dir()  # what a killed run used to leave: Triton serving, ports bound
        (found,) = [leftover for leftover in leftovers.find() if leftover.folder == folder]
        assert (server_pid, "tritonserver") in found.processes
        with caplog.at_level(logging.WARNING, logger="server"), \
                LocalTriton(small_repository, http_port=ports["http"], grpc_port=ports["grpc"],
                            metrics_port=ports["metrics"]) as server:
            assert server.is_ready()
        warnings = [r.getMessage() for r in caplog.records if "earlier local Triton" in r.getMessage()]
        assert len(warnings) == 1
        assert warnings[0].startswith("removed what an earlier local Triton left running (its starter was killed): "
                                      f"tritonserver {server_pid}, ")
        assert warnings[0].endswith(str(folder))
        assert not group_processes(server_pid)
        assert not folder.exists()
    finally:
        with_suppressed_kill(server_pid)


def test_a_live_run_is_not_a_leftover(small_repository: Path) -> None:
    with LocalTriton(small_repository) as server:
        assert (server.shadow_root.parent / leftovers.OWNER_FILE).read_text() == f"{os.getpid()}\n"
        assert all(leftover.folder != server.shadow_root.parent for leftover in leftovers.find())


def with_suppressed_kill(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
