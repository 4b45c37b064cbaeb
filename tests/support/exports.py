"""Exports for test servers, and tokenizing as a served tokenizer model does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from export.pipeline import ExportResult, run_export
from export.settings import DEFAULT_BATCHING, ExportSettings
from tritonize.repo_format.tokenizer_folder import load_tokenizer_model


def export_into(repository: Path, model: str | None, name: str, **overrides: object) -> ExportResult:
    """Export ``model`` into ``repository`` for CPU serving, with both formats unless told otherwise.

    The kind's batching defaults with batches of at most 16, and one instance per model to keep test servers light.
    The load check in the local Triton is off unless asked for (``load_check=True``): tests serve what they need.
    The ensemble path unless told otherwise (``serving=None`` takes the export's default rule, ``"one-step"``
    the one-step model): most tests exercise the ensemble's steps.
    """
    kind = overrides.pop("instance_kind", "cpu")
    settings = ExportSettings(
        model=model, repository=repository, name=name, formats=overrides.pop("formats", ("onnx", "torchscript")),
        instance_kind=kind, instance_count=overrides.pop("instance_count", 1),
        batching=overrides.pop("batching", replace(DEFAULT_BATCHING[kind], max_batch_size=16)),
        load_check=overrides.pop("load_check", False), serving=overrides.pop("serving", "ensemble"), **overrides,
    )
    return run_export(settings)


def tokens_from_repository(repository: Path, name: str, texts: list[str]) -> dict[str, np.ndarray]:
    """Tokenize as the served tokenizer model does, from its own config and files."""
    return load_tokenizer_model(repository / f"{name}_tokenizer").encode(texts)
