"""Errors a user can act on. The library raises them; only the CLI turns them into exit codes."""

from __future__ import annotations

from tritonize import errors as base
from tritonize.errors import TritonizeError

_LABELS = {"http": "HTTP", "grpc": "gRPC", "metrics": "metrics"}


class ServerError(TritonizeError):
    """Base of the server's errors: the message is shown to the user as it is, without a stack trace."""


class UsageError(ServerError, base.UsageError):
    """The command line or the API call asks for something impossible (exit code 2)."""


class RepositoryError(ServerError):
    """The model repository cannot be served (missing, not a folder, not readable)."""


class RepositoryNotFoundError(RepositoryError):
    """The repository to serve does not exist (exit code 2: a usage error)."""

    exit_code = 2


class BundleError(ServerError):
    """The bundled Triton Inference Server (nvidia-pytriton) is missing or incomplete."""


class PortInUseError(ServerError):
    """A port the server needs is taken by another program.

    Attributes:
        port: The busy port.
        protocol: ``http``, ``grpc`` or ``metrics``.
    """

    def __init__(self, port: int, protocol: str) -> None:
        super().__init__(
            f"port {port} is already in use ({_LABELS.get(protocol, protocol)}): stop the program that uses it "
            f"or choose another port with --{protocol}-port."
        )
        self.port = port
        self.protocol = protocol


class ModelLoadError(ServerError):
    """Triton refused to load one or more models.

    Attributes:
        failures: Triton's own error lines, one per model (``failed to load 'NAME' version 1: ...``, or ``Poll
            failed for model directory 'NAME': ...`` for a config Triton refuses); the message joins them in one
            line.
        log_path: Triton's complete log, when it is kept.
    """

    def __init__(self, failures: list[str], log_path: str | None = None) -> None:
        noun = "model" if len(failures) == 1 else "models"
        super().__init__(f"Triton could not load {len(failures)} {noun}: {'; '.join(failures)}")
        self.failures = failures
        self.log_path = log_path


class ServerStartError(ServerError):
    """The server exited or did not become ready in time, for a reason other than a model or a port.

    Attributes:
        log_tail: The last lines of Triton's log.
    """

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message + (f"\nLast lines of Triton's log:\n{log_tail}" if log_tail else ""))
        self.log_tail = log_tail


class ServerExitedError(ServerError):
    """The server stopped on its own while serving.

    Attributes:
        exit_code_of_server: Triton's exit code.
        log_tail: The last lines of Triton's log.
    """

    def __init__(self, code: int, log_tail: str = "") -> None:
        super().__init__(f"Triton exited unexpectedly with code {code}."
                         + (f"\nLast lines of Triton's log:\n{log_tail}" if log_tail else ""))
        self.exit_code_of_server = code
        self.log_tail = log_tail
