"""The client against the bundled all-MiniLM-L6-v2 served by the real local Triton (the only text ensemble)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from client import TextClient
from client.cli import cli
from server.local import LocalTriton

TOPICS = [
    "The cat sleeps on the warm windowsill all afternoon.",
    "Stock markets fell sharply after the central bank raised interest rates.",
    "The recipe needs two cups of flour, three eggs and a pinch of salt.",
    "Our team won the championship game in the final minute.",
]


@pytest.fixture(scope="module")
def triton(minilm_repository: Path):
    with LocalTriton(minilm_repository) as server:
        yield server


def test_the_only_text_ensemble_is_picked(triton: LocalTriton) -> None:
    result = CliRunner(env={"TRITON_MODEL": None}).invoke(cli, ["--url", triton.http_url, "predict", "--jsonl",
                                                                "A kitten naps in the sun."])
    assert result.exit_code == 0, result.output
    vector = np.array(json.loads(result.stdout)["outputs"]["embeddings"])
    assert vector.shape == (384,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-3)  # the model's Normalize module


def test_many_texts_from_a_file_come_back_in_order(triton: LocalTriton, tmp_path: Path) -> None:
    """Texts of mixed length are regrouped by length and sent 4 at a time; each vector still matches its text."""
    texts = [TOPICS[i % 4] + " Filler words." * (i % 11) for i in range(600)]
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    result = CliRunner(env={"TRITON_MODEL": None}).invoke(cli, [
        "--url", triton.grpc_url, "--protocol", "grpc", "predict", "--file", str(path), "-b", "8", "-c", "4",
        "--jsonl"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["index"], r["text"]) for r in lines] == list(enumerate(texts))
    vectors = np.array([r["outputs"]["embeddings"] for r in lines])
    with TextClient(triton.http_url) as client:
        anchors = np.stack([p.outputs["embeddings"] for p in client.predict(TOPICS, model="minilm")])
    nearest = (vectors @ anchors.T).argmax(axis=1)
    assert nearest.tolist() == [i % 4 for i in range(600)]
    # The same text gives the same vector wherever it sits in the input.
    np.testing.assert_allclose(vectors[0], vectors[11 * 4], atol=1e-4)


def test_client_side_tokenizer_matches_the_ensemble(triton: LocalTriton, minilm_repository: Path) -> None:
    with TextClient(triton.http_url) as client:
        ensemble = client.predict(TOPICS, model="minilm")
        tensors = client.predict(TOPICS, model="minilm_onnx", tokenizer=minilm_repository / "minilm_tokenizer")
    for one, other in zip(ensemble, tensors):
        np.testing.assert_allclose(one.outputs["embeddings"], other.outputs["embeddings"], atol=1e-4)
