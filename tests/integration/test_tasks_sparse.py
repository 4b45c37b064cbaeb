"""Sparse (SPLADE) embeddings served by the real local Triton, equal to ``SparseEncoder.encode`` on kept entries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from click.testing import CliRunner
from sentence_transformers import SparseEncoder
from transformers import AutoTokenizer

from client import TextClient
from client.cli import cli
from client.errors import UnsupportedModel
from export.load_model import read_info
from export.source import resolve_source
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_models import make_bert, make_splade
from tritonize.contract import Task

TEXTS = [
    "hello world",
    "the quick brown fox jumps over the lazy dog",
    "a",
    "customer review: battery lasts two days, screen is sharp but speaker far too quiet",
    " ".join(["long inputs are truncated to model maximum length"] * 10),
]
#: name → (folder kind, --sparse-top-k, formats, --task).
EXPORTS = {
    "splade": ("plain", 256, ("onnx", "torchscript"), Task.SPARSE_EMBEDDING),
    "splade_ts": ("plain", 256, ("torchscript",), Task.SPARSE_EMBEDDING),
    "splade_st": ("saved", 256, ("onnx",), None),
    "splade_top8": ("plain", 8, ("onnx",), Task.SPARSE_EMBEDDING),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("splade")
    made = {}
    for kind in ("plain", "saved"):
        (root / kind).mkdir()
        made[kind] = make_splade(root / kind, saved_by_sentence_transformers=kind == "saved")
    (root / "dense").mkdir()
    made["dense"] = make_bert(root / "dense", sentence_transformers=True)
    return made


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory, folders: dict[str, Path]):
    repository = tmp_path_factory.mktemp("sparse-repo") / "model_repository"
    for name, (kind, top_k, formats, task) in EXPORTS.items():
        export_into(repository, str(folders[kind]), name, formats=formats, task=task, sparse_top_k=top_k)
    export_into(repository, str(folders["dense"]), "dense", formats=("onnx",))
    with LocalTriton(repository, ready_timeout=120) as server:
        yield server


def reference(folder: Path, texts: list[str]) -> np.ndarray:
    encoder = SparseEncoder(str(folder), device="cpu")
    return encoder.encode(texts, convert_to_tensor=True).to_dense().numpy()


def text_input(module: object, texts: list[str]) -> object:
    tensor = module.InferInput("TEXT", [len(texts), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[t.encode()] for t in texts], dtype=object))
    return tensor


def test_sparse_encoder_folders_are_detected(folders: dict[str, Path]) -> None:
    assert read_info(resolve_source(str(folders["saved"]), None)).task is Task.SPARSE_EMBEDDING
    assert read_info(resolve_source(str(folders["plain"]), None), Task.SPARSE_EMBEDDING).task is Task.SPARSE_EMBEDDING


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("name", list(EXPORTS))
def test_served_weights_equal_sparse_encoder_on_kept_entries(triton: LocalTriton, folders: dict[str, Path],
                                                            protocol: str, name: str) -> None:
    kind, top_k, _, _ = EXPORTS[name]
    module = httpclient if protocol == "http" else grpcclient
    with module.InferenceServerClient(triton.http_url if protocol == "http" else triton.grpc_url) as client:
        result = client.infer(name, [text_input(module, TEXTS)])
    indices, weights, tokens = (result.as_numpy(n) for n in ("indices", "weights", "tokens"))
    expected = reference(folders[kind], TEXTS)
    vocab_size = expected.shape[1]
    assert indices.shape == weights.shape == tokens.shape == (len(TEXTS), min(top_k, vocab_size))
    vocabulary = AutoTokenizer.from_pretrained(str(folders[kind]))
    nonzeros = (expected > 0).sum(axis=1)
    assert nonzeros.min() > 0 and nonzeros.max() < vocab_size  # sparse, yet never empty
    for row, want in enumerate(expected):
        kept = indices[row] >= 0
        assert kept.sum() == min(top_k, nonzeros[row])
        np.testing.assert_allclose(weights[row][kept], want[indices[row][kept]], atol=1e-4)
        np.testing.assert_allclose(weights[row][kept], np.sort(want)[::-1][:kept.sum()], atol=1e-4)
        assert (weights[row][~kept] == 0).all() and (tokens[row][~kept] == b"").all()
        assert [t.decode() for t in tokens[row][kept]] == vocabulary.convert_ids_to_tokens(indices[row][kept].tolist())


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_encode_sparse_gives_terms_and_refuses_dense_models(triton: LocalTriton, folders: dict[str, Path],
                                                            protocol: str) -> None:
    with TextClient(triton.http_url if protocol == "http" else triton.grpc_url, protocol) as text_client:
        embeddings = text_client.encode_sparse(TEXTS, model="splade", batch_size=2)
        with pytest.raises(UnsupportedModel, match="Model 'dense' does not return sparse embeddings .*"
                                                   "--task sparse-embedding"):
            text_client.encode_sparse(TEXTS, model="dense")
    expected = reference(folders["plain"], TEXTS)
    for embedding, want in zip(embeddings, expected, strict=True):
        assert set(embedding.as_dict()) == set(np.flatnonzero(want))
        np.testing.assert_allclose([embedding.as_dict()[i] for i in np.flatnonzero(want)], want[want > 0],
                                   atol=1e-4)
        weights = [term.weight for term in embedding.terms]
        assert weights == sorted(weights, reverse=True)


def test_cli_sparse_and_predict(triton: LocalTriton) -> None:
    runner = CliRunner()
    table = runner.invoke(cli, ["--url", triton.http_url, "sparse", "-m", "splade", "-k", "3", *TEXTS[:2]])
    assert table.exit_code == 0, table.output
    rows = table.output.splitlines()
    assert len(rows) == 3 and " terms: " in rows[1] and rows[1].endswith(", …")
    document = runner.invoke(cli, ["--url", triton.http_url, "sparse", "-m", "splade", "--json", "hello world"])
    (record,) = json.loads(document.output)
    assert record["text"] == "hello world" and {"token", "index", "weight"} == set(record["terms"][0])
    predicted = runner.invoke(cli, ["--url", triton.http_url, "predict", "-m", "splade", "hello world"])
    assert predicted.exit_code == 0 and f"{len(record['terms'])} terms: " in predicted.output
    refused = runner.invoke(cli, ["--url", triton.http_url, "sparse", "-m", "dense", "hello"])
    assert refused.exit_code == 2 and "Model 'dense' does not return sparse embeddings" in refused.output
