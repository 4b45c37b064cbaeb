"""Running the ``client`` command in-process."""

from __future__ import annotations

import os

from click.testing import CliRunner, Result

from client.cli import cli


def run(url: str, *args: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None) -> Result:
    """``client --url URL ARGS`` in-process, with the environment's TRITON_* variables cleared."""
    clean = {key: None for key in os.environ if key.startswith("TRITON_")}
    return CliRunner(env={**clean, **(env or {})}).invoke(cli, ["--url", url, *args], input=stdin)
