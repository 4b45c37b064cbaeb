"""No command line run by any test prints a stack trace unless it asks for one with ``--debug``.

An autouse fixture (imported by ``conftest.py``) wraps ``CliRunner.invoke`` and ``subprocess.run``: a run of one
of our CLIs without ``--debug`` fails its test when its output holds ``Traceback`` or an error escaped the CLI.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator, Sequence

import pytest
from click.testing import CliRunner, Result

#: Flags that ask for stack traces.
DEBUG_FLAGS = ("--debug",)
#: ``python -m X`` and console scripts that are ours.
OUR_MODULES = ("export", "server", "client")
MARKERS = ("Traceback (most recent call last)", "Exception ignored in")


def asks_for_traces(words: Sequence[str]) -> bool:
    """The command line holds a stack-trace flag."""
    return any(word in DEBUG_FLAGS for word in words)


def is_ours(command: Sequence[str]) -> bool:
    """``python -m export|server|client ...`` or the ``client`` console script."""
    words = [str(word) for word in command]
    if words and words[0].endswith("/client"):
        return True
    return any(a == "-m" and b in OUR_MODULES for a, b in zip(words, words[1:]))


def check_output(what: str, *texts: object) -> None:
    """Fail when any of ``texts`` shows a stack trace."""
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        if isinstance(text, str) and any(marker in text for marker in MARKERS):
            pytest.fail(f"{what} printed a stack trace without --debug:\n{text[-2000:]}")


@pytest.fixture(autouse=True)
def no_tracebacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Check every CLI run of the test (see the module docstring)."""
    invoke, run = CliRunner.invoke, subprocess.run

    def checked_invoke(self: CliRunner, cli: object, args: object = None, *rest: object, **kwargs: object) -> Result:
        result = invoke(self, cli, args, *rest, **kwargs)
        words = shlex.split(args) if isinstance(args, str) else [str(a) for a in (args or ())]
        if not asks_for_traces(words):
            name = getattr(cli, "name", "cli")
            check_output(f"{name} {shlex.join(words)}", result.output)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                pytest.fail(f"{name} {shlex.join(words)} let {type(result.exception).__name__} escape: "
                            f"{result.exception}")
        return result

    def checked_run(*args: object, **kwargs: object) -> subprocess.CompletedProcess:
        result = run(*args, **kwargs)
        command = args[0] if args else kwargs.get("args", ())
        words = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        if is_ours(words) and not asks_for_traces(words):
            check_output(shlex.join(words), result.stdout, result.stderr)
        return result

    monkeypatch.setattr(CliRunner, "invoke", checked_invoke)
    monkeypatch.setattr(subprocess, "run", checked_run)
    yield
