"""The one-step text model (``--serving one-step``, the CPU default) against the real local Triton.

Tiny embedder, classifier, reranker and prompted embedder, each exported twice: the default (one step) and
``--serving ensemble``. Both paths answer alike and as the reference libraries do; labels, prompts and bad
inputs behave as the ensemble's; the load check's served row goes through the one-step model.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from sentence_transformers import CrossEncoder, SentenceTransformer
from tritonclient.utils import InferenceServerException

from benchmarks import http_load
from export.errors import UsageError
from export.pipeline import ExportResult
from gateway.tokens import count_tokens
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_families import FAMILIES, make_family
from tests.support.tiny_models import make_bert, make_cross_encoder
from tritonize.repo_format.names import ModelNames
from tritonize.repo_format.tokenizer_folder import load_tokenizer_model

pytestmark = [pytest.mark.server, pytest.mark.timeout(600)]

TEXTS = ("hello world", "Café in Zürich — naïve façade 東京 🚀", "word " * 200, "the battery lasts two days")
PAIRS = [("what does triton serve", "triton serves many models"), ("hello", "the quick brown fox " * 30)]
PROMPTED = next(f for f in FAMILIES if f.name == "mistral")  # prompts: query (the default) and passage
KINDS = ("emb", "cls", "rr", "pr")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("one-step-models")
    for kind in KINDS:
        (root / kind).mkdir()
    return {"emb": make_bert(root / "emb", sentence_transformers=True, pooling="mean"),
            "cls": make_bert(root / "cls", "text-classification"),
            "rr": make_cross_encoder(root / "rr"), "pr": make_family(root / "pr", PROMPTED)}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory, folders: dict[str, Path]) -> dict[str, ExportResult]:
    """Each kind exported by default (one step, the load check on for the embedder) and as an ensemble."""
    repository = tmp_path_factory.mktemp("one-step") / "model_repository"
    results = {}
    for kind in KINDS:
        results[kind] = export_into(repository, str(folders[kind]), kind, formats=("onnx",), serving=None,
                                    load_check=kind == "emb")
        results[f"{kind}_ens"] = export_into(repository, str(folders[kind]), f"{kind}_ens", formats=("onnx",))
    return results


@pytest.fixture(scope="module")
def triton(exports: dict[str, ExportResult]):
    with LocalTriton(exports["emb"].repository, ready_timeout=180) as server:
        yield server


def test_the_default_cpu_export_is_one_model(exports: dict[str, ExportResult]) -> None:
    repository = exports["emb"].repository
    for kind in KINDS:
        assert exports[kind].serving.one_step and not exports[f"{kind}_ens"].serving.one_step
        names = ModelNames(kind)
        assert not (repository / names.tokenizer).exists() and not (repository / names.artifact("onnx")).exists()
        version = sorted(p.name for p in (repository / kind / "1").iterdir())
        assert version == ["model.onnx", "model.py", "tokenizer.json", "tritonize_batching.py",
                           "tritonize_tokenizer.py"]
    assert (repository / "cls" / "labels.txt").read_text() == (repository / "cls_ens" / "labels.txt").read_text()
    rows = [check.artifact for check in exports["emb"].report.checks]
    assert "served@triton-2.51" in rows and exports["emb"].load_check.ran  # the served row: the one-step model
    assert any(row.startswith("ref ") for row in rows)  # the reference library still gates the export


def _outputs(client: grpcclient.InferenceServerClient, model: str, inputs: dict[str, list[str]],
             outputs: list[str], class_count: int = 0) -> dict[str, np.ndarray]:
    tensors = []
    for name, texts in inputs.items():
        tensor = grpcclient.InferInput(name, [len(texts), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[t.encode()] for t in texts], dtype=np.object_))
        tensors.append(tensor)
    requested = [grpcclient.InferRequestedOutput(name, class_count=class_count) for name in outputs]
    result = client.infer(model, tensors, outputs=requested)
    return {name: result.as_numpy(name) for name in outputs}


def test_one_step_answers_what_the_ensemble_and_the_references_answer(triton: LocalTriton,
                                                                      folders: dict[str, Path]) -> None:
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    texts = {"TEXT": list(TEXTS)}
    emb, emb_ens = (_outputs(client, m, texts, ["embeddings"])["embeddings"] for m in ("emb", "emb_ens"))
    np.testing.assert_allclose(emb, emb_ens, atol=1e-6)
    np.testing.assert_allclose(emb, SentenceTransformer(str(folders["emb"]), device="cpu").encode(list(TEXTS)),
                               atol=1e-5)
    cls, cls_ens = (_outputs(client, m, texts, ["logits", "probabilities"]) for m in ("cls", "cls_ens"))
    for name in ("logits", "probabilities"):
        np.testing.assert_allclose(cls[name], cls_ens[name], atol=1e-6)
    labelled, labelled_ens = (_outputs(client, m, texts, ["probabilities"], class_count=2)["probabilities"]
                              for m in ("cls", "cls_ens"))  # Triton's classification extension: labels.txt
    assert [[item.decode().split(":")[2] for item in row] for row in labelled] == \
        [[item.decode().split(":")[2] for item in row] for row in labelled_ens]
    pairs = {"QUERY": [q for q, _ in PAIRS], "PASSAGE": [p for _, p in PAIRS]}
    rr, rr_ens = (_outputs(client, m, pairs, ["scores"])["scores"] for m in ("rr", "rr_ens"))
    np.testing.assert_allclose(rr, rr_ens, atol=1e-6)
    np.testing.assert_allclose(rr.reshape(-1), CrossEncoder(str(folders["rr"]), device="cpu").predict(PAIRS),
                               atol=1e-5)


def test_token_count_is_what_count_tokens_counts_and_only_when_asked(triton: LocalTriton,
                                                                   exports: dict[str, ExportResult],
                                                                   folders: dict[str, Path]) -> None:
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    repository = exports["emb"].repository
    for kind, prompts in (("emb", (None,)), ("pr", (None, "query", "passage"))):
        local = load_tokenizer_model(repository / kind)  # the very encoder the served model tokenizes with
        for prompt in prompts:
            inputs = {"TEXT": list(TEXTS), **({"PROMPT_NAME": [prompt] * len(TEXTS)} if prompt else {})}
            got = _outputs(client, kind, inputs, ["embeddings", "token_count"])
            assert got["token_count"].shape == (len(TEXTS), 1) and got["token_count"].dtype == np.int64
            assert got["token_count"].reshape(-1).tolist() == [count_tokens(local, [t], prompt) for t in TEXTS]
            np.testing.assert_allclose(got["embeddings"], _outputs(client, kind, inputs, ["embeddings"])["embeddings"],
                                       atol=1e-6)  # asking for the count changes nothing else
    counts = _outputs(client, "emb", {"TEXT": list(TEXTS)}, ["token_count"])["token_count"].reshape(-1)
    reference = SentenceTransformer(str(folders["emb"]), device="cpu").tokenize(list(TEXTS))["attention_mask"]
    assert counts.tolist() == reference.sum(axis=1).tolist()  # the long text truncated, as sentence-transformers
    assert counts[2] == reference.shape[1] < len(TEXTS[2].split())
    passage = _outputs(client, "pr", {"TEXT": ["hello world"], "PROMPT_NAME": ["passage"]}, ["token_count"])
    bare = load_tokenizer_model(repository / "pr").tokenizer.encode("hello world")
    assert passage["token_count"][0, 0] > len(bare.ids)  # the prompt's tokens count
    tensor = grpcclient.InferInput("TEXT", [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[b"hello world"]], dtype=np.object_))
    only = client.infer("emb", [tensor], outputs=[grpcclient.InferRequestedOutput("embeddings")])
    assert only.as_numpy("token_count") is None and only.as_numpy("embeddings") is not None
    pairs = {"QUERY": [q for q, _ in PAIRS], "PASSAGE": [p for _, p in PAIRS]}
    rr = load_tokenizer_model(repository / "rr")
    assert _outputs(client, "rr", pairs, ["token_count"])["token_count"].reshape(-1).tolist() == \
        [len(e.ids) for e in rr.tokenizer.encode_batch(PAIRS)]  # a pair counts as the pair it is tokenized as


def test_prompts_work_as_in_the_ensemble(triton: LocalTriton) -> None:
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    for prompt in (None, "passage"):
        inputs = {"TEXT": list(TEXTS[:2]), **({"PROMPT_NAME": [prompt] * 2} if prompt else {})}
        got, want = (_outputs(client, m, inputs, ["embeddings"])["embeddings"] for m in ("pr", "pr_ens"))
        np.testing.assert_allclose(got, want, atol=1e-6)
    default = _outputs(client, "pr", {"TEXT": list(TEXTS[:2])}, ["embeddings"])["embeddings"]
    passage = _outputs(client, "pr", {"TEXT": list(TEXTS[:2]), "PROMPT_NAME": ["passage"] * 2},
                       ["embeddings"])["embeddings"]
    assert not np.allclose(default, passage)  # the prompt reaches the tokenizer
    with pytest.raises(InferenceServerException, match="Unknown PROMPT_NAME 'nope'"):
        _outputs(client, "pr", {"TEXT": ["hello"], "PROMPT_NAME": ["nope"]}, ["embeddings"])


def test_bad_inputs_are_invalid_argument_naming_the_item_and_the_server_stays_healthy(triton: LocalTriton) -> None:
    client = httpclient.InferenceServerClient(triton.http_url.removeprefix("http://"))
    bad = httpclient.InferInput("TEXT", [2, 1], "BYTES")
    bad.set_data_from_numpy(np.array([[b"fine"], [b"\xff\xfe broken"]], dtype=np.object_))
    with pytest.raises(InferenceServerException) as raised:
        client.infer("emb", [bad])
    assert "TEXT item 1 is not valid UTF-8" in str(raised.value) and raised.value.status() == "400"
    empty = httpclient.InferInput("TEXT", [1, 1], "BYTES")
    empty.set_data_from_numpy(np.array([[b"  "]], dtype=np.object_))
    with pytest.raises(InferenceServerException, match="TEXT item 0 is empty"):
        client.infer("emb", [empty])
    wrong = httpclient.InferInput("TEXT", [1, 2], "BYTES")  # dims are [1] per item
    wrong.set_data_from_numpy(np.array([[b"a", b"b"]], dtype=np.object_))
    with pytest.raises(InferenceServerException) as raised:
        client.infer("emb", [wrong])
    assert raised.value.status() == "400" and "shape" in str(raised.value)
    assert client.is_server_live() and client.is_model_ready("emb")
    target = http_load.kserve_target("one-step", triton.http_url, "emb")
    stats = http_load.measure(target, list(TEXTS), concurrency=4, seconds=1.0, warmup_s=0.2)
    assert stats.answered > 0 and stats.failed == 0
    everything = httpx.post(target.url, json=target.body("hello")).json()["outputs"]
    assert {o["name"] for o in everything} == {"embeddings", "token_count"}  # none named: Triton asks for all
    asked = http_load.kserve_target("one-step", triton.http_url, "emb", outputs=("embeddings",))
    assert [o["name"] for o in httpx.post(asked.url, json=asked.body("hello")).json()["outputs"]] == ["embeddings"]


@pytest.mark.parametrize(("folder", "kind", "why"), [
    ("emb", "gpu", "GPU instances keep the ensemble"),
    ("tok", "cpu", "token-classification has a step after the model"),
])
def test_one_step_is_refused_where_it_cannot_apply(folders: dict[str, Path], tmp_path: Path, folder: str,
                                                   kind: str, why: str) -> None:
    model = folders["emb"] if folder == "emb" else make_bert(tmp_path / "tok", "token-classification")
    with pytest.raises(UsageError, match=f"--serving one-step does not apply here: {why}"):
        export_into(tmp_path / "repo", str(model), "m", formats=("onnx",), instance_kind=kind, serving="one-step")
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").iterdir())


def test_the_client_calls_a_one_step_model_as_it_calls_an_ensemble(triton: LocalTriton) -> None:
    from client import TextClient
    from tests.support.client_cli import run

    with TextClient(triton.http_url, "http") as client:
        assert {"emb", "cls", "pr"} <= set(client.text_models()) and "emb_ens" in client.text_models()
        assert client.stages("emb") == ["emb"] and client.stages("emb_ens") == ["emb_ens_tokenizer", "emb_ens_onnx"]
    labels = [run(triton.http_url, "predict", "-m", m, "--top-k", "2", "--jsonl", "hello world")
              for m in ("cls", "cls_ens")]
    assert labels[0].exit_code == 0, labels[0].output
    assert labels[0].output == labels[1].output  # top-2 label names from labels.txt, as from the ensemble
    embedded = [run(triton.http_url, "predict", "-m", m, "--jsonl", "hello world") for m in ("emb", "emb_ens")]
    assert embedded[0].exit_code == 0, embedded[0].output
    assert "token_count" not in embedded[0].output  # the gateway's count, not a prediction the client shows
    records = [json.loads(result.output.splitlines()[0]) for result in embedded]
    assert set(records[0]) == set(records[1]) and set(records[0]["outputs"]) == set(records[1]["outputs"])
    assert any(name in labels[0].output for name in ("negative", "neutral", "positive"))
    reranked = [run(triton.http_url, "rerank", "--model", m, PAIRS[0][0], PAIRS[0][1], PAIRS[1][1])
                for m in ("rr", "rr_ens")]
    assert reranked[0].exit_code == 0, reranked[0].output
    assert reranked[0].output == reranked[1].output


def test_the_client_sorts_a_one_step_model_s_texts_by_the_model_s_own_token_counts(
        triton: LocalTriton, exports: dict[str, ExportResult]) -> None:
    from client import TextClient, token_lengths

    local = load_tokenizer_model(exports["emb"].repository / "emb")
    texts = [t for t in TEXTS if t] * 30  # more than one request of max_batch_size
    with TextClient(triton.http_url, "http") as client:
        step = token_lengths.tokenizer_step(client.model_config("emb"), client.model_config)
        assert step == token_lengths.TokenizerStep("emb", "TEXT", step.max_batch_size, "token_count")
        assert client.token_lengths(client.plan("emb"), texts) == [count_tokens(local, [t], None) for t in texts]
        assert token_lengths.tokenizer_step(client.model_config("pr"), client.model_config) is None  # 2 inputs
