"""The one Click adapter of the three CLIs.

A :class:`~tritonize.errors.TritonizeError` becomes its message on stderr and its exit code; ``--debug`` prints
the stack trace above it.
"""

from __future__ import annotations

import traceback

import click

from tritonize.errors import TritonizeError

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
