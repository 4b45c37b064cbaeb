"""Domain errors of ``tune``; only its CLI turns them into one line and an exit code."""

from __future__ import annotations

from tritonize.errors import TritonizeError, UsageError


class TuneError(TritonizeError):
    """The search could not go on (a model that does not load, a server that does not answer)."""


class TuneUsageError(TuneError, UsageError):
    """The command line asks for something impossible (exit code 2)."""
