"""The one error hierarchy of export, server and client.

The library raises these; only the CLIs (through :mod:`tritonize.cli_errors`) turn them into a message on stderr
and an exit code.
"""

from __future__ import annotations


class TritonizeError(Exception):
    """Base of every error a user can act on: its message is shown as it is, without a stack trace.

    Attributes:
        exit_code: The process exit status the CLIs use for it.
        show_usage: The CLI prints the command's usage line above the message (click's usage-error form).
    """

    exit_code = 1
    show_usage = False


class UsageError(TritonizeError):
    """The command line or the API call asks for something impossible (exit code 2)."""

    exit_code = 2
