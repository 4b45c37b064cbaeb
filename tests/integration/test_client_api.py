"""The Python API (``client.TextClient``) against the real local Triton serving the tiny repository."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2 as mc

import client
from client import TextClient, token_lengths
from client.errors import InputError, ModelNotFound, ServerUnreachable
from server.local import LocalTriton
from tritonize.repo_format.tokenizer_encoding import TextEncoder
from tritonize.repo_format.tokenizer_folder import load_tokenizer_model

TEXTS = [f"sentence {i} " + "more " * (i % 5) for i in range(37)]


@pytest.fixture(scope="module")
def triton(tiny_repository: Path):
    with LocalTriton(tiny_repository) as server:
        yield server


@pytest.fixture(params=["http", "grpc"])
def triton_client(request: pytest.FixtureRequest, triton: LocalTriton):
    address = triton.http_url if request.param == "http" else triton.grpc_url
    with TextClient(address, request.param) as text_client:
        yield text_client


def test_public_names_resolve_to_their_objects() -> None:
    for name in client.__all__:
        assert getattr(client, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        client.Nope  # noqa: B018


def test_server_and_repository(triton_client: TextClient) -> None:
    health = triton_client.health("tiny_cls")
    assert (health.ok, health.live, health.ready, health.model_ready) == (True, True, True, True)
    assert {entry.name for entry in triton_client.models() if entry.ready} >= {"tiny_cls", "tiny_emb", "tiny_tok"}
    assert triton_client.text_models() == ["tiny_cls", "tiny_emb", "tiny_tok"]
    config = triton_client.model_config("tiny_cls")
    assert isinstance(config, mc.ModelConfig) and config.max_batch_size == 16
    interface = triton_client.interface("tiny_cls")
    assert interface.is_text_ensemble and interface.score_output().name == "probabilities"
    assert triton_client.model_metadata("tiny_emb")["outputs"][0]["shape"] == [-1, 32]


def test_predict_in_order_with_concurrency(triton_client: TextClient) -> None:
    predictions = triton_client.predict(TEXTS, model="tiny_cls", batch_size=4, concurrency=3, top_k=2)
    assert [(p.index, p.text) for p in predictions] == list(enumerate(TEXTS))
    for prediction in predictions:
        assert len(prediction.labels) == 2 and prediction.labels[0].score >= prediction.labels[1].score
        assert prediction.outputs["logits"].shape == (3,)
    again = triton_client.predict(TEXTS, model="tiny_cls", batch_size=16, concurrency=1, top_k=2)
    assert [p.labels[0].label for p in again] == [p.labels[0].label for p in predictions]


def test_stream_reports_progress_per_batch(triton_client: TextClient) -> None:
    plan = triton_client.plan("tiny_emb", batch_size=10)
    done: list[int] = []
    vectors = [p.outputs["embeddings"] for p in triton_client.stream(plan, TEXTS, concurrency=2, on_batch=done.append)]
    assert done == [10, 10, 10, 7]
    assert np.stack(vectors).shape == (37, 32)


def test_client_side_tokenization_matches_the_ensemble(triton_client: TextClient, tiny_repository: Path) -> None:
    ensemble = triton_client.predict(TEXTS[:5], model="tiny_emb")
    encoder = TextEncoder.from_file(str(tiny_repository / "tiny_emb_tokenizer" / "1" / "tokenizer.json"),
                                    ["input_ids"], max_length=64, pad_to_multiple_of=16, pad_token_id=0)
    for tokenizer in (tiny_repository / "tiny_emb_tokenizer", encoder):
        tensors = triton_client.predict(TEXTS[:5], model="tiny_emb_onnx", tokenizer=tokenizer)
        for one, other in zip(ensemble, tensors):
            np.testing.assert_allclose(one.outputs["embeddings"], other.outputs["embeddings"], atol=1e-5)


def test_texts_are_sorted_by_the_served_tokenizers_counts(triton_client: TextClient, tiny_repository: Path) -> None:
    texts = ["a b c d e f g h", "tokenization truncated", "yes", "sentence 4 more more more more", "x"]
    encoder = load_tokenizer_model(tiny_repository / "tiny_emb_tokenizer")
    tokens = [len(encoding.ids) for encoding in encoder.tokenizer.encode_batch(texts)]
    assert np.argsort(tokens, kind="stable").tolist() != np.argsort([len(t) for t in texts], kind="stable").tolist()
    ensemble = triton_client.plan("tiny_emb")
    assert triton_client.token_lengths(ensemble, texts * 30) == tokens * 30  # in chunks of max_batch_size
    assert triton_client.token_lengths(triton_client.plan("tiny_emb_onnx", tokenizer=encoder), texts) == tokens
    predictions = triton_client.predict(texts * 30, model="tiny_emb", batch_size=4)
    assert [p.text for p in predictions] == texts * 30


def test_a_tokenizer_step_is_the_one_fed_by_the_text_that_returns_masks(triton_client: TextClient) -> None:
    config_of = triton_client.model_config
    assert token_lengths.tokenizer_step(config_of("tiny_emb"), config_of) == token_lengths.TokenizerStep(
        "tiny_emb_tokenizer", "TEXT", 16)
    assert token_lengths.tokenizer_step(config_of("tiny_emb_onnx"), config_of) is None  # not an ensemble
    without_masks = mc.ModelConfig()
    without_masks.CopyFrom(config_of("tiny_emb_tokenizer"))
    del without_masks.output[:]
    assert token_lengths.tokenizer_step(config_of("tiny_emb"), lambda _: without_masks) is None


def test_errors_are_domain_errors(triton_client: TextClient) -> None:
    with pytest.raises(ModelNotFound, match="available: tiny_cls, "):
        triton_client.predict(["x"], model="missing")
    with pytest.raises(InputError) as blank:
        triton_client.predict(["fine", "", "fine", " "], model="tiny_cls", batch_size=8)
    assert str(blank.value) == "Blank texts at index 1, 3: the tokenizer model refuses empty texts"


def test_unreachable_server_raises_server_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for protocol in ("http", "grpc"):
        with TextClient(f"127.0.0.1:{port}", protocol, retries=0) as text_client:
            assert not text_client.health().ok
            with pytest.raises(ServerUnreachable, match="connection refused"):
                text_client.predict(["x"], model="tiny_cls")
