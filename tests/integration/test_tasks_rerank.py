"""Cross-encoder rerankers exported, served by the real local Triton, equal to ``CrossEncoder.predict``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from click.testing import CliRunner
from sentence_transformers import CrossEncoder

from client import TextClient
from client.cli import cli
from client.errors import InputError, UnsupportedModel
from export.load_model import read_info
from export.source import resolve_source
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_models import NLI_LABELS, make_bert, make_cross_encoder
from tritonize.contract import Task

QUERY = "what does triton serve"
#: Documents of mixed lengths; the last pair is longer than the model's 64 tokens, so its longer side is cut.
DOCUMENTS = [
    "triton serves many models at once on one gpu",
    "the quick brown fox",
    "hello",
    "customer review: the battery lasts two days, the screen is sharp but the speaker far too quiet",
    " ".join(["long inputs are truncated to the model maximum length"] * 12),
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cross-encoders")
    kinds = {"plain": {}, "saved": {"saved_by_sentence_transformers": True}, "nli": {"num_labels": 3}}
    made = {}
    for kind, options in kinds.items():
        (root / kind).mkdir()
        made[kind] = make_cross_encoder(root / kind, **options)
    return made


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory, folders: dict[str, Path]) -> Path:
    repository = tmp_path_factory.mktemp("rerank-repo") / "model_repository"
    export_into(repository, str(folders["plain"]), "rr")
    export_into(repository, str(folders["plain"]), "rr_ts", formats=("torchscript",))
    export_into(repository, str(folders["saved"]), "rr_st", formats=("onnx",))
    export_into(repository, str(folders["nli"]), "nli", formats=("onnx",))
    return repository


@pytest.fixture(scope="module")
def triton(repository: Path):
    with LocalTriton(repository, ready_timeout=120) as server:
        yield server


def reference(folder: Path, pairs: list[tuple[str, str]], **options: object) -> np.ndarray:
    return np.asarray(CrossEncoder(str(folder)).predict(pairs, **options))


def pairs_request(module: object, pairs: list[tuple[str, str]]) -> list:
    tensors = []
    for name, side in (("QUERY", 0), ("PASSAGE", 1)):
        tensor = module.InferInput(name, [len(pairs), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[p[side].encode()] for p in pairs], dtype=object))
        tensors.append(tensor)
    return tensors


def test_folders_are_detected_as_rerankers(folders: dict[str, Path], tmp_path: Path) -> None:
    for folder in folders.values():
        assert read_info(resolve_source(str(folder), None)).task is Task.TEXT_RANKING
    classifier = make_bert(tmp_path, "text-classification")
    source = resolve_source(str(classifier), None)
    assert read_info(source).task is Task.TEXT_CLASSIFICATION
    assert read_info(source, Task.TEXT_RANKING).task is Task.TEXT_RANKING


@pytest.mark.parametrize("model", ["rr", "rr_ts", "rr_st"])
def test_served_scores_equal_cross_encoder_predict(triton: LocalTriton, folders: dict[str, Path], protocol: str,
                                                  model: str) -> None:
    pairs = [(QUERY, document) for document in DOCUMENTS] + [(DOCUMENTS[3], DOCUMENTS[1])]
    module = httpclient if protocol == "http" else grpcclient
    url = triton.http_url if protocol == "http" else triton.grpc_url
    with module.InferenceServerClient(url) as client:
        scores = client.infer(model, pairs_request(module, pairs)).as_numpy("scores")
    folder = folders["saved" if model == "rr_st" else "plain"]
    expected = reference(folder, pairs)
    assert scores.shape == (len(pairs), 1) and np.ptp(expected) > 0.05
    np.testing.assert_allclose(scores[:, 0], expected, atol=1e-4, rtol=0)


def test_rerank_sorts_documents_by_score(text_client: TextClient, folders: dict[str, Path]) -> None:
    expected = reference(folders["plain"], [(QUERY, document) for document in DOCUMENTS])
    ranked = text_client.rerank(QUERY, DOCUMENTS, model="rr", batch_size=2)
    assert [item.index for item in ranked] == list(np.argsort(-expected, kind="stable"))
    assert [item.document for item in ranked] == [DOCUMENTS[i] for i in np.argsort(-expected, kind="stable")]
    np.testing.assert_allclose([item.score for item in ranked], np.sort(expected)[::-1], atol=1e-4)
    assert [item.index for item in text_client.rerank(QUERY, DOCUMENTS, model="rr", top_k=2)] == \
        [item.index for item in ranked[:2]]


def test_pair_classifier_scores_are_softmax_with_labels(text_client: TextClient, folders: dict[str, Path]) -> None:
    pairs = [(QUERY, document) for document in DOCUMENTS]
    probabilities = reference(folders["nli"], pairs, apply_softmax=True)
    scored = text_client.score_pairs([q for q, _ in pairs], [p for _, p in pairs], "nli")
    for (_, labels), expected in zip(scored, probabilities):
        assert {label.label for label in labels} == set(NLI_LABELS)
        np.testing.assert_allclose([label.score for label in sorted(labels, key=lambda x: x.index)], expected,
                                   atol=1e-4)
    ranked = text_client.rerank(QUERY, DOCUMENTS, model="nli", label="entailment")
    assert [item.index for item in ranked] == list(np.argsort(-probabilities[:, 1], kind="stable"))
    with pytest.raises(UnsupportedModel, match=r"over 3 labels \(contradiction, entailment, neutral\)"):
        text_client.rerank(QUERY, DOCUMENTS, model="nli")


def test_nli_logits_equal_predict_without_softmax(triton: LocalTriton, folders: dict[str, Path]) -> None:
    pairs = [(QUERY, document) for document in DOCUMENTS]
    with httpclient.InferenceServerClient(triton.http_url) as client:
        logits = client.infer("nli", pairs_request(httpclient, pairs)).as_numpy("logits")
    np.testing.assert_allclose(logits, reference(folders["nli"], pairs), atol=1e-4)


def test_cli_rerank_prints_documents_best_first(triton: LocalTriton, folders: dict[str, Path],
                                               tmp_path: Path) -> None:
    expected = reference(folders["plain"], [(QUERY, document) for document in DOCUMENTS])
    order = list(np.argsort(-expected, kind="stable"))
    runner = CliRunner()
    table = runner.invoke(cli, ["--url", triton.http_url, "rerank", "--model", "rr", QUERY, *DOCUMENTS[:3]])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["RANK", "SCORE", "#", "DOCUMENT"]
    first_three = [i for i in order if i < 3]
    assert [int(line.split()[2]) - 1 for line in lines[1:]] == first_three
    documents = tmp_path / "documents.txt"
    documents.write_text("\n".join(DOCUMENTS) + "\n")
    answer = runner.invoke(cli, ["--url", triton.http_url, "rerank", "--file", str(documents), "--json",
                                 "--top-k", "2", QUERY, "--model", "rr"])
    assert answer.exit_code == 0, answer.output
    records = json.loads(answer.output)
    assert [record["index"] for record in records] == order[:2]
    assert records[0]["document"] == DOCUMENTS[order[0]]
    assert abs(records[0]["score"] - float(expected[order[0]])) < 1e-4


def test_bad_pairs_get_one_error_and_the_server_stays_healthy(triton: LocalTriton, text_client: TextClient,
                                                             protocol: str) -> None:
    module = httpclient if protocol == "http" else grpcclient
    url = triton.http_url if protocol == "http" else triton.grpc_url
    with module.InferenceServerClient(url) as client:
        with pytest.raises(Exception, match="PASSAGE item 1 is empty"):
            client.infer("rr", pairs_request(module, [(QUERY, "fine"), (QUERY, " ")]))
        with pytest.raises(Exception, match="QUERY item 0 is not valid UTF-8"):
            tensors = pairs_request(module, [(QUERY, "fine")])
            tensors[0].set_data_from_numpy(np.array([[b"\xff\xfe"]], dtype=object))
            client.infer("rr", tensors)
        query, passage = pairs_request(module, [(QUERY, "a"), (QUERY, "b")])
        (short, _) = pairs_request(module, [(QUERY, "a")])
        with pytest.raises(Exception, match="batch size"):
            client.infer("rr", [short, passage])
        assert client.is_server_live() and client.is_model_ready("rr")
        assert client.infer("rr", [query, passage]).as_numpy("scores").shape == (2, 1)
    with pytest.raises(InputError, match="Pair 2 has an empty passage"):
        text_client.rerank(QUERY, ["fine", ""], model="rr")
    with pytest.raises(InputError, match="2 queries but 1 passages"):
        text_client.score_pairs([QUERY, QUERY], ["fine"], "rr")
    with pytest.raises(UnsupportedModel, match="does not rerank"):
        text_client.rerank(QUERY, ["fine"], model="rr_onnx")
    with pytest.raises(UnsupportedModel, match=r"scores \(query, passage\) pairs: use client rerank"):
        text_client.predict(["a text"], model="rr")
    with pytest.raises(UnsupportedModel, match="returns no 'scores' output"):
        text_client.score_pairs([QUERY], ["x" * 10], "rr_tokenizer")
