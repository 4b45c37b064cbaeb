"""One vocabulary across the CLIs and the benchmarks: the same option means the same thing everywhere."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
import pytest

from benchmarks import gpu_check, serving, tuning_sweep
from client.cli import cli as client_cli
from export.cli import main as export_main
from server.cli import main as server_main
from tests.server_support import build_repository

ROOT = Path(__file__).parents[1]


def options(command: click.Command) -> set[str]:
    return {name for param in command.params for name in [*param.opts, *param.secondary_opts]}


COMMANDS = {
    "export": export_main, "server": server_main, "client": client_cli,
    "client predict": client_cli.commands["predict"], "client bench": client_cli.commands["bench"],
    "benchmarks.serving": serving.main, "benchmarks.tuning_sweep": tuning_sweep.main,
    "benchmarks.gpu_check": gpu_check.main,
}


def test_benchmarks_are_click_commands() -> None:
    for name in ("benchmarks.serving", "benchmarks.tuning_sweep", "benchmarks.gpu_check"):
        assert isinstance(COMMANDS[name], click.Command), name


@pytest.mark.parametrize("name", ["export", "server", "client"])
def test_stack_traces_are_debug_everywhere(name: str) -> None:
    assert "--debug" in options(COMMANDS[name])


@pytest.mark.parametrize("name", ["export", "server", "client predict", "client bench", "benchmarks.serving",
                                  "benchmarks.tuning_sweep"])
def test_every_command_that_reports_progress_has_quiet(name: str) -> None:
    assert {"-q", "--quiet"} <= options(COMMANDS[name])


def test_one_flag_for_a_file_of_texts() -> None:
    for name in ("client predict", "client bench"):
        assert {"--file", "-f"} <= options(COMMANDS[name])
    assert all("--texts" not in options(command) for command in COMMANDS.values())


def test_threads_per_instance_is_one_name() -> None:
    assert "--threads-per-instance" in options(export_main)
    assert "--threads-per-instance" in options(serving.main)
    assert all("--intra-op-threads" not in options(command) for command in COMMANDS.values())


def test_concurrency_is_requests_in_flight_repeated_or_comma_separated() -> None:
    from client.bench import parse_levels

    bench = client_cli.commands["bench"]
    for args in (["-c", "1", "-c", "4"], ["--concurrency", "1,4"]):
        with bench.make_context("bench", args) as ctx:
            assert parse_levels(",".join(ctx.params["concurrency"]), None) == parse_levels("1,4", None)
    with serving.main.make_context("serving", ["-c", "2", "-c", "8"]) as ctx:
        assert ctx.params["concurrency"] == (2, 8)
    assert {"-c", "--concurrency"} <= options(client_cli.commands["predict"])


def test_quiet_server_prints_nothing_but_serves(tmp_path: Path) -> None:
    from server.ports import free_ports

    build_repository(tmp_path / "full", tmp_path / "work")
    shutil.copytree(tmp_path / "full" / "tiny_tokenizer", tmp_path / "repo" / "tiny_tokenizer")
    http, grpc, metrics = free_ports(3)
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "-q", "--repository", str(tmp_path / "repo"), "--http-port", str(http),
         "--grpc-port", str(grpc), "--metrics-port", str(metrics)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        ready = False
        while not ready and time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/health/ready", timeout=1) as answer:
                    ready = answer.status == 200
            except OSError:
                time.sleep(0.2)
        assert ready
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert (process.returncode, stdout, stderr) == (0, "", "")
