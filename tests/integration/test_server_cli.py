"""``python -m server``: explain, user errors as one-line messages with exit codes, clean stops on signals."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli import main
from tests.support.server import (
    BROKEN_MODEL,
    build_repository,
    children,
    group_processes,
    tokenizer_config,
    write_model,
)

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def small_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX model (KIND_GPU, TensorRT) and a Python model: quick to serve."""
    root = tmp_path_factory.mktemp("cli-repo")
    build_repository(root / "full", root / "work")
    for name in ("tiny_onnx", "tiny_tokenizer"):
        shutil.copytree(root / "full" / name, root / "repo" / name)
    return root / "repo"


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def start_server(*args: str, sigint_ignored: bool = False) -> subprocess.Popen:
    """``python -m server``; ``sigint_ignored`` starts it as a non-interactive shell starts a background job."""
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    return subprocess.Popen([sys.executable, "-m", "server", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=ignore)


def test_explain_prints_every_model_and_what_was_translated(small_repository: Path) -> None:
    code, output = run_cli("--explain", env={"TRITONIZE_REPOSITORY": str(small_repository)})
    assert code == 0, output
    assert f"How the bundled Triton serves {small_repository}" in output
    assert "tiny_onnx       onnxruntime_onnx → Python-backend adapter (ONNX Runtime); versions: 1" in output
    assert "instance group #0: KIND_GPU → KIND_CPU (no GPU visible)" in output
    assert "dropped optimization.execution_accelerators (gpu: tensorrt)" in output
    assert "tiny_tokenizer  python (as is); versions: 1" in output
    assert "~ differs from the container: threads: intra_op_thread_count=1" in output


def test_missing_repository_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run_cli("--repository", str(tmp_path / "nowhere"))
    assert code == 2
    assert f"Error: Model repository {tmp_path / 'nowhere'} does not exist" in output
    assert "Traceback" not in output


def test_busy_port_exits_1_with_a_message(small_repository: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = run_cli("--repository", str(small_repository), "--http-port", str(port))
    assert code == 1
    assert f"Error: port {port} is already in use (HTTP): stop the program that uses it or choose another port " \
           f"with --http-port." in output
    assert "Traceback" not in output


def test_a_model_that_fails_to_load_exits_1_with_triton_s_error_line(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    write_model(repository, tokenizer_config("broken"), {"model.py": BROKEN_MODEL.encode()})
    result = subprocess.run([sys.executable, "-m", "server", "--repository", str(repository), *free_ports()],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Triton could not load 1 model: failed to load 'broken' version 1: Internal: ValueError: weights " \
           "are missing\n" in result.stderr
    assert "Traceback" not in result.stderr


def free_ports() -> list[str]:
    from server.ports import free_ports as pick

    http, grpc, metrics = pick(3)
    return ["--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)]


@pytest.mark.parametrize(("signum", "sigint_ignored"), [(signal.SIGINT, False), (signal.SIGINT, True),
                                                       (signal.SIGTERM, False)],
                         ids=["ctrl-c", "ctrl-c-started-in-background", "sigterm"])
def test_signal_stops_the_server_and_every_stub(small_repository: Path, signum: int, sigint_ignored: bool) -> None:
    process = start_server("--repository", str(small_repository), *free_ports(), sigint_ignored=sigint_ignored)
    try:
        banner = []
        for line in process.stdout:
            banner.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(banner)
        assert "tiny_onnx" in text and "READY" in text and "HTTP     http://localhost:" in text, text
        (server_pid,) = [pid for pid in children(process.pid)
                         if "tritonserver" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
        assert any("triton_python_backend_stub" in cmd for _, cmd in group_processes(server_pid))
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Stopped." in stderr
    deadline = time.monotonic() + 5
    while group_processes(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_processes(server_pid) == []


def test_help_names_the_environment_fallback() -> None:
    code, output = run_cli("--help")
    assert code == 0
    assert "TRITONIZE_REPOSITORY" in output and "--model-control-mode" in output


def test_poll_mode_reports_a_version_that_fails_and_a_server_that_dies(small_repository: Path,
                                                                        tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    shutil.copytree(small_repository, repository)
    process = start_server("--repository", str(repository), "--model-control-mode", "poll", "--poll-secs", "1",
                           *free_ports())
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True)
    reader.start()
    try:
        for line in process.stdout:
            if line.startswith("Press Ctrl-C"):
                break
        staged = tmp_path / "staged"
        staged.mkdir()
        (staged / "model.py").write_text(BROKEN_MODEL)
        staged.rename(repository / "tiny_tokenizer" / "2")
        expected = "error: failed to load 'tiny_tokenizer' version 2: Internal: ValueError: weights are missing\n"
        deadline = time.monotonic() + 30
        while expected not in errors and time.monotonic() < deadline:
            time.sleep(0.2)
        assert expected in errors
        (server_pid,) = [pid for pid in children(process.pid)
                         if "tritonserver" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
        os.killpg(server_pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(timeout=5)
    assert process.returncode == 1
    assert "Error: Triton exited unexpectedly with code -9." in "".join(errors)
    assert "Traceback" not in "".join(errors)
