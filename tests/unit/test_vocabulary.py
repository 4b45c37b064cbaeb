"""One vocabulary across the CLIs and the benchmarks: the same option means the same thing everywhere."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from benchmarks import gpu_check, serving, tuning_sweep
from client.cli import cli as client_cli
from export.cli import main as export_main
from server.cli import main as server_main

ROOT = Path(__file__).parents[2]


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
