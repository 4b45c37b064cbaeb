"""Models exported with ``--max-batch-size 0`` get one text per request and correct classes."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from client import TextClient
from client.cli import cli
from export.settings import DEFAULT_BATCHING
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_models import LABELS

TEXTS = [f"review number {i}, the battery lasts two days" for i in range(9)]


@pytest.fixture(scope="module")
def unbatched(tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, Path]):
    """A tiny classifier exported with max_batch_size 0 (``flat``) and the same model batched (``batched``)."""
    repository = tmp_path_factory.mktemp("unbatched") / "model_repository"
    unbatched_settings = replace(DEFAULT_BATCHING["cpu"], max_batch_size=0)
    export_into(repository, str(tiny_models["bert-classifier"]), "flat", formats=("onnx",), release_check=False,
                batching=unbatched_settings)
    export_into(repository, str(tiny_models["bert-classifier"]), "batched", formats=("onnx",), release_check=False)
    with LocalTriton(repository) as server:
        yield server


def test_unbatched_classifier_returns_real_labels_per_text(unbatched: LocalTriton) -> None:
    with TextClient(unbatched.http_url) as client:
        assert client.plan("flat").batch_size == 1
        flat = client.predict(TEXTS, model="flat", top_k=3, concurrency=2)
        batched = client.predict(TEXTS, model="batched", top_k=3)
    assert [p.index for p in flat] == list(range(len(TEXTS)))
    for one, other in zip(flat, batched):
        assert len(one.labels) == 3
        assert {label.label for label in one.labels} == set(LABELS)
        assert [label.label for label in one.labels] == [label.label for label in other.labels]
        assert [label.score for label in one.labels] == pytest.approx([label.score for label in other.labels],
                                                                      abs=1e-5)


def test_unbatched_classifier_from_the_command_line(unbatched: LocalTriton) -> None:
    clean = {key: None for key in os.environ if key.startswith("TRITON_")}
    result = CliRunner(env=clean).invoke(cli, ["--url", unbatched.http_url, "predict", "-m", "flat", "--top-k", "3",
                                               "--jsonl", "-b", "64", *TEXTS[:3]])
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        labels = json.loads(line)["labels"]
        assert len(labels) == 3 and {label["label"] for label in labels} == set(LABELS)
