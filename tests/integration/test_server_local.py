"""The real bundled Triton serving the hand-built repository: adapters, batching, metrics, lifecycle."""

from __future__ import annotations

import concurrent.futures
import shutil
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from server.errors import ModelLoadError, PortInUseError
from server.local import LocalTriton
from tests.support.server import (
    BROKEN_MODEL,
    TinyClassifier,
    artifact_config,
    build_repository,
    byte_tokens,
    export_onnx,
    group_processes,
    snapshot,
    token_batch,
    tokenizer_config,
    write_model,
)


@pytest.fixture(scope="module")
def hand_repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("hand-repo")
    artifacts = build_repository(root / "repo", root / "work")
    return root / "repo", artifacts


@pytest.fixture(scope="module")
def server(hand_repository: tuple[Path, dict[str, Path]]) -> LocalTriton:
    repository, _ = hand_repository
    before = snapshot(repository)
    with LocalTriton(repository, ready_timeout=90) as running:
        yield running
    assert snapshot(repository) == before, "the user's repository was modified"


def reference_onnx(path: Path, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip(["logits", "probabilities"], session.run(["logits", "probabilities"], feed)))


def http_infer(url: str, model: str, feed: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    inputs = []
    for name, array in feed.items():
        tensor = httpclient.InferInput(name, list(array.shape), "INT64")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    with httpclient.InferenceServerClient(url) as client:
        result = client.infer(model, inputs, outputs=[httpclient.InferRequestedOutput(n) for n in outputs])
    return {name: result.as_numpy(name) for name in outputs}


def test_http_inference_through_the_onnx_adapter_equals_in_process_ort(
        server: LocalTriton, hand_repository: tuple[Path, dict[str, Path]]) -> None:
    _, artifacts = hand_repository
    feed = token_batch(4, 9)
    served = http_infer(server.http_url, "tiny_onnx", feed, ["logits", "probabilities"])
    expected = reference_onnx(artifacts["tiny_onnx"], feed)
    for name in expected:
        np.testing.assert_allclose(served[name], expected[name], rtol=1e-6, atol=1e-6)


def test_grpc_inference_through_the_torchscript_adapter_equals_torch(
        server: LocalTriton, hand_repository: tuple[Path, dict[str, Path]]) -> None:
    _, artifacts = hand_repository
    feed = token_batch(3, 6, seed=1)
    inputs = []
    for name, array in feed.items():
        tensor = grpcclient.InferInput(name, list(array.shape), "INT64")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    with grpcclient.InferenceServerClient(server.grpc_url) as client:
        result = client.infer("tiny_torchscript", inputs)
    module = torch.jit.load(str(artifacts["tiny_torchscript"]))
    with torch.no_grad():
        logits, probabilities = module(*(torch.from_numpy(a) for a in feed.values()))
    np.testing.assert_allclose(result.as_numpy("logits__0"), logits.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(result.as_numpy("probabilities__1"), probabilities.numpy(), rtol=1e-6, atol=1e-6)


def test_model_without_batching_is_served(server: LocalTriton,
                                          hand_repository: tuple[Path, dict[str, Path]]) -> None:
    _, artifacts = hand_repository
    feed = token_batch(2, 5, seed=2)
    served = http_infer(server.http_url, "tiny_flat_onnx", feed, ["probabilities"])
    np.testing.assert_allclose(served["probabilities"], reference_onnx(artifacts["tiny_onnx"], feed)["probabilities"],
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("ensemble", ["tiny", "tiny_ts"])
def test_ensembles_run_the_python_model_then_the_adapter(
        server: LocalTriton, hand_repository: tuple[Path, dict[str, Path]], ensemble: str) -> None:
    _, artifacts = hand_repository
    texts = ["hello world", "a much longer review of the battery"]
    text = grpcclient.InferInput("TEXT", [2, 1], "BYTES")
    text.set_data_from_numpy(np.array([[t.encode()] for t in texts], dtype=object))
    with grpcclient.InferenceServerClient(server.grpc_url) as client:
        result = client.infer(ensemble, [text])
    expected = reference_onnx(artifacts["tiny_onnx"], byte_tokens(texts))
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected["probabilities"], rtol=1e-5, atol=1e-6)


def test_labels_give_triton_classification_results(server: LocalTriton) -> None:
    text = httpclient.InferInput("TEXT", [1, 1], "BYTES")
    text.set_data_from_numpy(np.array([[b"great phone"]], dtype=object))
    with httpclient.InferenceServerClient(server.http_url) as client:
        result = client.infer("tiny", [text],
                              outputs=[httpclient.InferRequestedOutput("probabilities", class_count=3)])
    entries = [item.decode() for item in result.as_numpy("probabilities").reshape(-1)]
    assert {entry.split(":")[2] for entry in entries} == {"negative", "neutral", "positive"}


def test_concurrent_requests_are_batched_in_one_run(server: LocalTriton,
                                                    hand_repository: tuple[Path, dict[str, Path]]) -> None:
    _, artifacts = hand_repository
    client = httpclient.InferenceServerClient(server.http_url, concurrency=16)
    before = client.get_inference_statistics("tiny_batched_onnx")["model_stats"][0]
    feeds = [token_batch(1, 8, seed=i) for i in range(16)]
    pending = []
    for feed in feeds:
        inputs = []
        for name, array in feed.items():
            tensor = httpclient.InferInput(name, list(array.shape), "INT64")
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        pending.append(client.async_infer("tiny_batched_onnx", inputs))
    results = [p.get_result().as_numpy("logits") for p in pending]
    after = client.get_inference_statistics("tiny_batched_onnx")["model_stats"][0]
    client.close()
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == 16
    assert executions < inferences, (executions, inferences)
    expected = reference_onnx(artifacts["tiny_onnx"], {n: np.concatenate([f[n] for f in feeds]) for n in feeds[0]})
    np.testing.assert_allclose(np.concatenate(results), expected["logits"], rtol=1e-5, atol=1e-6)


def test_requests_of_different_lengths_in_one_batch_each_get_their_answer(
        server: LocalTriton, hand_repository: tuple[Path, dict[str, Path]]) -> None:
    _, artifacts = hand_repository
    feeds = [token_batch(1 + i % 3, 4 + i % 5, seed=i) for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda f: http_infer(server.http_url, "tiny_onnx", f, ["logits"]), feeds))
    for feed, result in zip(feeds, results):
        np.testing.assert_allclose(result["logits"], reference_onnx(artifacts["tiny_onnx"], feed)["logits"],
                                   rtol=1e-5, atol=1e-6)


def test_metrics_count_successful_requests(server: LocalTriton) -> None:
    http_infer(server.http_url, "tiny_onnx", token_batch(1, 4), ["logits"])
    assert server.metrics_url == f"127.0.0.1:{server.ports['metrics']}"  # no scheme, like http_url and grpc_url
    with urllib.request.urlopen(f"http://{server.metrics_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'nv_inference_request_success{model="tiny_onnx",version="1"}' in text


def test_explain_and_models_describe_the_served_repository(server: LocalTriton) -> None:
    states = {m.name: m.state for m in server.models()}
    assert states == dict.fromkeys(["tiny", "tiny_batched_onnx", "tiny_flat_onnx", "tiny_onnx", "tiny_tokenizer",
                                    "tiny_torchscript", "tiny_ts"], "READY")
    text = server.explain()
    assert "tiny_onnx" in text and "KIND_GPU → KIND_CPU" in text and "tensorrt" in text
    assert server.startup_seconds is not None and server.startup_seconds < 60


def test_stopping_leaves_no_stub_processes(tmp_path: Path,
                                           hand_repository: tuple[Path, dict[str, Path]]) -> None:
    repository, _ = hand_repository
    served = tmp_path / "repo"
    served.mkdir()
    for name in ("tiny_onnx", "tiny_tokenizer"):
        shutil.copytree(repository / name, served / name)
    server = LocalTriton(served).start()
    pgid = server.pid
    stubs = [cmd for _, cmd in group_processes(pgid) if "triton_python_backend_stub" in cmd]
    assert len(stubs) == 2
    workdir = server.shadow_root.parent
    server.stop()
    deadline = time.monotonic() + 5
    while group_processes(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_processes(pgid) == []
    assert not workdir.exists()


def test_poll_mode_serves_a_newly_exported_version(tmp_path: Path,
                                                   hand_repository: tuple[Path, dict[str, Path]]) -> None:
    repository, _ = hand_repository
    served = tmp_path / "repo"
    served.mkdir()
    shutil.copytree(repository / "tiny_onnx", served / "tiny_onnx")
    feed = token_batch(2, 5)
    with LocalTriton(served, model_control_mode="poll", repository_poll_secs=1) as server:
        first = http_infer(server.http_url, "tiny_onnx", feed, ["logits"])["logits"]
        staged = tmp_path / "staged"
        staged.mkdir()
        export_onnx(TinyClassifier(seed=7), staged / "model.onnx")
        staged.rename(served / "tiny_onnx" / "2")  # as the exporter does: one rename
        client = httpclient.InferenceServerClient(server.http_url)
        deadline = time.monotonic() + 30
        while not client.is_model_ready("tiny_onnx", "2") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.is_model_ready("tiny_onnx", "2")
        client.close()  # Triton waits for open connections when it stops
        second = http_infer(server.http_url, "tiny_onnx", feed, ["logits"])["logits"]
    assert not np.allclose(first, second)
    np.testing.assert_allclose(second, reference_onnx(served / "tiny_onnx" / "2" / "model.onnx", feed)["logits"],
                               rtol=1e-6, atol=1e-6)


def test_a_model_that_fails_to_load_shows_triton_s_error_line(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    write_model(repository, tokenizer_config("broken"), {"model.py": BROKEN_MODEL.encode()})
    with pytest.raises(ModelLoadError) as caught:
        LocalTriton(repository, ready_timeout=60).start()
    assert caught.value.failures == ["failed to load 'broken' version 1: Internal: ValueError: weights are missing"]


def test_an_onnx_config_that_disagrees_with_its_graph_is_refused_at_load(
        tmp_path: Path, hand_repository: tuple[Path, dict[str, Path]]) -> None:
    _, artifacts = hand_repository
    config = artifact_config("wrong_onnx", "onnxruntime_onnx")
    config.input[0].name = "token_ids"
    write_model(tmp_path / "repo", config, {"model.onnx": artifacts["tiny_onnx"]}, labels=True)
    with pytest.raises(ModelLoadError) as caught:
        LocalTriton(tmp_path / "repo", ready_timeout=60).start()
    (line,) = caught.value.failures
    assert line.startswith("failed to load 'wrong_onnx' version 1: ")
    assert "model.onnx needs inputs the config does not declare: input_ids" in line


def test_a_busy_port_is_reported_before_starting(hand_repository: tuple[Path, dict[str, Path]]) -> None:
    repository, _ = hand_repository
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} is already in use"):
            LocalTriton(repository, grpc_port=port).start()
