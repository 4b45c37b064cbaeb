"""Domain errors of the client library; only the CLI turns them into messages on stderr and exit codes."""

from __future__ import annotations

from tritonize.errors import TritonizeError, UsageError


class ClientError(TritonizeError):
    """Base of every error the client reports as one line (exit status 1 on the command line)."""


class UsageProblem(ClientError, UsageError):
    """The call itself needs fixing (a missing option, an ambiguous choice); the CLI exits with status 2.

    The command line shows it in click's usage-error form (usage line, ``Error: ...``).
    """

    show_usage = True


class ServerUnreachable(ClientError):
    """No connection to Triton (refused, unknown host, reset)."""


class RequestTimeout(ClientError):
    """Triton did not answer within the timeout."""


class ModelNotFound(ClientError):
    """The server's repository has no model of that name."""


class ModelNotReady(ClientError):
    """The model is in the repository but not loaded (still loading, failed, unloaded)."""


class ServerRejected(ClientError):
    """Triton answered with an error for a request it received (invalid input, model failure).

    Attributes:
        server_message: Triton's own error message.
        status: The HTTP status code or gRPC status (``"400"``, ``"StatusCode.INTERNAL"``).
    """

    def __init__(self, server_message: str, status: str = "", context: str = "") -> None:
        super().__init__(f"{context}: {server_message}" if context else server_message)
        self.server_message = server_message
        self.status = status


class InputError(ClientError):
    """Texts that cannot be sent: none given, a file that is not UTF-8, a JSONL line without the field."""


class PerfAnalyzerError(ClientError):
    """perf_analyzer is missing or a run failed; the message says which and how to fix it."""


class UnsupportedModel(UsageProblem):
    """The model's interface is not one this client can feed (or needs ``--tokenizer``)."""
