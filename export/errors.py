"""Errors a user can act on. The library raises them; only the CLI turns them into exit codes."""

from __future__ import annotations

from tritonize import errors as base
from tritonize.errors import TritonizeError


class ExportError(TritonizeError):
    """Base of the exporter's errors: the message is shown to the user as it is, without a stack trace."""


class UsageError(ExportError, base.UsageError):
    """The command line asks for something impossible (exit code 2)."""


class ModelNotFoundError(ExportError):
    """The model id is neither a local folder nor a reachable hub repository."""


class UnsupportedModelError(ExportError):
    """The architecture or task cannot be exported."""


class ModelFolderError(ExportError):
    """The model folder is incomplete (no weights) or holds a file that does not parse."""


class TokenizerError(ModelFolderError):
    """The model folder's tokenizer is missing or cannot tokenize real text."""


class ExportFailedError(ExportError):
    """Tracing or conversion of the model failed."""


class VerificationError(ExportError):
    """An exported artifact disagrees with PyTorch beyond the tolerance.

    Attributes:
        report: The verification numbers (``export.verify.Report``), when artifacts were compared.
    """

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class RepositoryError(ExportError):
    """The model repository cannot be written as asked."""
