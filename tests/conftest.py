"""Shared fixtures: tiny model folders and exported repositories, built once per session."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from export.pipeline import ExportResult, run_export
from export.settings import DEFAULT_BATCHING, ExportSettings
from tests.tiny_models import make_bert, make_roberta
from tests.traceback_guard import no_tracebacks  # noqa: F401 - autouse: no CLI run prints a stack trace

os.environ.setdefault("HF_HUB_OFFLINE", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# CLI exports in tests skip the load check in the local Triton (tests/test_load_check.py tests it): each would
# start a server.
os.environ.setdefault("TRITONIZE_SKIP_LOAD_CHECK", "1")

#: Fixtures that export models (tiny or MiniLM) or build artifacts with torch: a test using one is not fast.
EXPORTING_FIXTURES = frozenset({"tiny_models", "tiny_repository", "minilm_repository", "built", "hand_repository",
                                "small_repository"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``export`` the tests that export, and ``fast`` every test that neither exports nor runs Triton.

    Modules that start the local server mark themselves ``server``; ``pytest -m fast`` runs the rest.
    """
    for item in items:
        if EXPORTING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.export)
        if not any(item.get_closest_marker(name) for name in ("server", "export", "slow")):
            item.add_marker(pytest.mark.fast)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny model folders by kind: BERT (WordPiece) for all tasks, RoBERTa (byte-level BPE)."""
    root = tmp_path_factory.mktemp("tiny-models")
    makers = {
        "bert-classifier": lambda p: make_bert(p, "text-classification"),
        "bert-multilabel": lambda p: make_bert(p, "text-classification", multi_label=True),
        "bert-tokens": lambda p: make_bert(p, "token-classification"),
        "bert-sentence": lambda p: make_bert(p, sentence_transformers=True, pooling="cls"),
        "bert-base": lambda p: make_bert(p, "feature-extraction"),
        "roberta-classifier": lambda p: make_roberta(p, "text-classification"),
        "roberta-base": lambda p: make_roberta(p, "feature-extraction"),
    }
    folders = {}
    for kind, make in makers.items():
        folder = root / kind
        folder.mkdir()
        folders[kind] = make(folder)
    return folders


def export_into(repository: Path, model: str | None, name: str, **overrides: object) -> ExportResult:
    """Export ``model`` into ``repository`` for CPU serving, with both formats unless told otherwise.

    The kind's batching defaults with batches of at most 16, and one instance per model to keep test servers light.
    The load check in the local Triton is off unless asked for (``load_check=True``): tests serve what they need.
    """
    kind = overrides.pop("instance_kind", "cpu")
    settings = ExportSettings(
        model=model, repository=repository, name=name, formats=overrides.pop("formats", ("onnx", "torchscript")),
        instance_kind=kind, instance_count=overrides.pop("instance_count", 1),
        batching=overrides.pop("batching", replace(DEFAULT_BATCHING[kind], max_batch_size=16)),
        load_check=overrides.pop("load_check", False), **overrides,
    )
    return run_export(settings)


@pytest.fixture(scope="session")
def tiny_repository(tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, Path]) -> Path:
    """A repository with a tiny classifier (``tiny_cls``), embedder (``tiny_emb``) and tagger (``tiny_tok``)."""
    repository = tmp_path_factory.mktemp("tiny-repo") / "model_repository"
    export_into(repository, str(tiny_models["bert-classifier"]), "tiny_cls")
    export_into(repository, str(tiny_models["bert-sentence"]), "tiny_emb")
    export_into(repository, str(tiny_models["bert-tokens"]), "tiny_tok", formats=("onnx",))
    return repository


@pytest.fixture(scope="session")
def minilm_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled all-MiniLM-L6-v2 exported once (ONNX + TorchScript) as ``minilm``."""
    repository = tmp_path_factory.mktemp("minilm-repo") / "model_repository"
    export_into(repository, None, "minilm")
    return repository
