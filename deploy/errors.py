"""Errors of the deploy tools, each with a message a user can act on."""

from __future__ import annotations

from tritonize.errors import TritonizeError


class DeployError(TritonizeError):
    """Base class: the message says what went wrong and what to do."""


class ToolMissingError(DeployError):
    """A program the tools run (helm, haproxy, prometheus) is not installed."""

    def __init__(self, program: str, install: str) -> None:
        super().__init__(f"{program} is not installed: {install}")
        self.program = program


class ChartError(DeployError):
    """helm could not render the chart (bad values, a failing check)."""


class ClusterError(DeployError):
    """The local cluster could not start or lost a process it needs."""
