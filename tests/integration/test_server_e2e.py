"""``python -m export`` output served by the local Triton: text in through the ensemble, equal to in-process ORT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from server.local import LocalTriton
from tests.support.server import snapshot
from tritonize.repo_format.tokenizer_folder import load_tokenizer_model

TEXTS = ["hello world", "the quick brown fox jumps over the lazy dog", "screen is sharp but speaker far too quiet"]


@pytest.fixture(scope="module")
def exported_server(tiny_repository: Path) -> LocalTriton:
    before = snapshot(tiny_repository)
    with LocalTriton(tiny_repository, ready_timeout=120) as server:
        yield server
    assert snapshot(tiny_repository) == before


def tokens(repository: Path, name: str, texts: list[str]) -> dict[str, np.ndarray]:
    """Tokenize as the served tokenizer model does, from its own config and files."""
    return load_tokenizer_model(repository / f"{name}_tokenizer").encode(texts)


def in_process(repository: Path, name: str, texts: list[str]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(repository / f"{name}_onnx" / "1" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    feed = tokens(repository, name, texts)
    return dict(zip(names, session.run(names, {i.name: feed[i.name] for i in session.get_inputs()})))


def text_input(module: object, texts: list[str]) -> object:
    tensor = module.InferInput("TEXT", [len(texts), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[t.encode()] for t in texts], dtype=object))
    return tensor


@pytest.mark.parametrize(("name", "output"), [("tiny_cls", "probabilities"), ("tiny_emb", "embeddings"),
                                              ("tiny_tok", "logits")])
def test_ensemble_over_http_equals_in_process_onnx_runtime(exported_server: LocalTriton, tiny_repository: Path,
                                                           name: str, output: str) -> None:
    with httpclient.InferenceServerClient(exported_server.http_url) as client:
        result = client.infer(name, [text_input(httpclient, TEXTS)])
    np.testing.assert_allclose(result.as_numpy(output), in_process(tiny_repository, name, TEXTS)[output],
                               rtol=1e-5, atol=1e-5)


def test_torchscript_model_over_grpc_equals_torch_jit(exported_server: LocalTriton, tiny_repository: Path) -> None:
    feed = tokens(tiny_repository, "tiny_cls", TEXTS)
    inputs = []
    for key, array in feed.items():
        tensor = grpcclient.InferInput(key, list(array.shape), "INT64")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    with grpcclient.InferenceServerClient(exported_server.grpc_url) as client:
        result = client.infer("tiny_cls_torchscript", inputs)
    module = torch.jit.load(str(tiny_repository / "tiny_cls_torchscript" / "1" / "model.pt"))
    with torch.inference_mode():
        logits, _ = module(*(torch.from_numpy(a) for a in feed.values()))
    np.testing.assert_allclose(result.as_numpy("logits__0"), logits.numpy(), rtol=1e-5, atol=1e-5)


def test_classification_returns_the_exported_labels(exported_server: LocalTriton, tiny_repository: Path) -> None:
    labels = set((tiny_repository / "tiny_cls" / "labels.txt").read_text().split())
    with httpclient.InferenceServerClient(exported_server.http_url) as client:
        result = client.infer("tiny_cls", [text_input(httpclient, TEXTS[:1])],
                              outputs=[httpclient.InferRequestedOutput("probabilities", class_count=1)])
    (entry,) = [item.decode() for item in result.as_numpy("probabilities").reshape(-1)]
    assert entry.split(":")[2] in labels
