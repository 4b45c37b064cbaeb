"""Test tiers by folder, and the fixtures they share: tiny model folders and exported repositories.

Every test module lives in one tier folder, and its tests get that tier's marker (nothing else decides it):

- ``tests/unit``: no server, no export, no network; ``pytest tests/unit`` is the inner loop (under a minute).
- ``tests/integration``: the local Triton and the exporter on tiny models.
- ``tests/e2e``: model families, the bundled MiniLM, the local cluster, Docker and Helm, release checks.

``fast`` and ``slow`` remain as aliases of ``unit`` and ``e2e`` for older commands (``-m fast``, ``-m "not slow"``).
Helpers live in ``tests/support``; test modules import from there, never from each other or from this file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.traceback_guard import no_tracebacks  # noqa: F401 - autouse: no CLI run prints a stack trace

os.environ.setdefault("HF_HUB_OFFLINE", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# CLI exports in tests skip the load check in the local Triton (tests/test_load_check.py tests it): each would
# start a server.
os.environ.setdefault("TRITONIZE_SKIP_LOAD_CHECK", "1")

TESTS = Path(__file__).resolve().parent
#: Tier folder → its marker and the aliases older commands use.
TIERS: dict[str, tuple[str, ...]] = {"unit": ("unit", "fast"), "integration": ("integration",), "e2e": ("e2e", "slow")}


def tier_of(path: Path) -> str | None:
    """The tier folder a test file lies in, if any."""
    parts = path.resolve().relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier; a test module outside the tier folders is a collection error."""
    strays = sorted({str(item.path.relative_to(TESTS.parent)) for item in items if tier_of(item.path) is None})
    if strays:
        raise pytest.UsageError(f"test modules outside tests/unit, tests/integration, tests/e2e: {', '.join(strays)}; "
                                "move each into the folder of its tier (see tests/conftest.py)")
    for item in items:
        for marker in TIERS[tier_of(item.path)]:
            item.add_marker(marker)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny model folders by kind: BERT (WordPiece) for all tasks, RoBERTa (byte-level BPE)."""
    from tests.support.tiny_models import make_bert, make_roberta

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


@pytest.fixture(scope="session")
def tiny_repository(tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, Path]) -> Path:
    """A repository with a tiny classifier (``tiny_cls``), embedder (``tiny_emb``) and tagger (``tiny_tok``)."""
    from tests.support.exports import export_into

    repository = tmp_path_factory.mktemp("tiny-repo") / "model_repository"
    export_into(repository, str(tiny_models["bert-classifier"]), "tiny_cls")
    export_into(repository, str(tiny_models["bert-sentence"]), "tiny_emb")
    export_into(repository, str(tiny_models["bert-tokens"]), "tiny_tok", formats=("onnx",))
    return repository


@pytest.fixture(scope="session")
def minilm_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled all-MiniLM-L6-v2 exported once (ONNX + TorchScript) as ``minilm``."""
    from tests.support.exports import export_into

    repository = tmp_path_factory.mktemp("minilm-repo") / "model_repository"
    export_into(repository, None, "minilm")
    return repository
