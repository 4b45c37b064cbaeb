"""Length-aware batching of the ONNX adapter: pure helpers, then ragged batches through the real local Triton."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient

from benchmarks.inprocess import encoder_for
from benchmarks.tuning import Tuning, apply_tuning
from export.settings import BatchingSettings
from export.triton_config import parse
from server.backends import batching
from server.local import LocalTriton
from tests.conftest import export_into

TOKENS = ("input_ids", "attention_mask")


def token_config(**changes: object) -> dict:
    config = {"max_batch_size": 8, "input": [{"name": n, "data_type": "TYPE_INT64", "dims": [-1]} for n in TOKENS],
              "output": [{"name": "embeddings", "dims": [4]}, {"name": "logits", "dims": ["-1", "3"]}]}
    return {**config, **changes}


def test_token_models_are_paddable_others_are_not() -> None:
    assert batching.paddable(token_config())
    assert not batching.paddable(token_config(max_batch_size=0))
    assert not batching.paddable(token_config(input=[{"name": "input_ids", "data_type": "TYPE_INT64", "dims": [-1]}]))
    assert not batching.paddable(token_config(input=[{"name": n, "data_type": "TYPE_FP32", "dims": [-1]}
                                                     for n in TOKENS]))
    assert not batching.paddable(token_config(input=[{"name": n, "data_type": "TYPE_INT64", "dims": [4, -1]}
                                                     for n in TOKENS]))
    assert batching.sequence_outputs(token_config()) == ["logits"]


def test_requests_are_sorted_by_length_and_cut_where_padding_costs_more_than_a_run() -> None:
    widths = [16, 17, 30, 18, 64, 5, 5, 31]
    assert batching.length_groups(widths, [1] * 8, 64, run_cost=8) == [[5, 6], [0, 1, 3], [2, 7], [4]]
    assert batching.length_groups(widths, [1] * 8, 64, run_cost=1000) == [[5, 6, 0, 1, 3, 2, 7, 4]]
    free_runs = batching.length_groups(widths, [1] * 8, 64, run_cost=0)  # no padding at all
    assert all(len({widths[i] for i in group}) == 1 for group in free_runs) and len(free_runs) >= 7
    assert batching.length_groups([9] * 5, [1] * 5, 2) == [[0, 1], [2, 3], [4]]
    assert batching.length_groups([9, 9], [3, 1], 2) == [[0], [1]]  # a request larger than max_rows runs alone
    assert batching.length_groups([], [], 8) == []


def test_shorter_requests_are_padded_with_masked_zeros_and_outputs_cut_back() -> None:
    short = {"input_ids": np.full((1, 2), 7), "attention_mask": np.ones((1, 2), dtype=np.int64)}
    long = {"input_ids": np.full((2, 4), 9), "attention_mask": np.ones((2, 4), dtype=np.int64)}
    feed, sizes = batching.pad_merge([short, long], [0, 1])
    assert sizes == [1, 2]
    assert feed["input_ids"].tolist() == [[7, 7, 0, 0], [9, 9, 9, 9], [9, 9, 9, 9]]
    assert feed["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
    same, _ = batching.pad_merge([long, long], [0, 1])
    assert same["input_ids"].shape == (4, 4)
    part = {"logits": np.arange(24, dtype=np.float32).reshape(1, 4, 6), "embeddings": np.zeros((1, 4))}
    trimmed = batching.trim(part, ["logits"], 2)
    assert trimmed["logits"].shape == (1, 2, 6) and trimmed["logits"].flags.c_contiguous
    assert trimmed["embeddings"] is part["embeddings"]


TEXTS = ["Short.", "A somewhat longer sentence with several more words in it.", "Hi",
         "Ragged batches mix requests of different lengths, and every answer must stay the same.", "Okay then."] * 4


@pytest.mark.parametrize("kind", ["bert-tokens", "bert-sentence", "roberta-base"])
def test_ragged_batches_answer_like_one_text_in_process(tiny_models: dict[str, Path], tmp_path: Path,
                                                        kind: str) -> None:
    repository = tmp_path / "repo"
    result = export_into(repository, str(tiny_models[kind]), "tiny", formats=("onnx",),
                         batching=BatchingSettings(max_batch_size=8, max_queue_delay_us=20000, pad_to_multiple_of=1))
    apply_tuning(repository, result.names, Tuning(ragged=True))
    assert all(t.allow_ragged_batch for t in parse((repository / "tiny_onnx" / "config.pbtxt").read_text()).input)
    encoder = encoder_for(repository, "tiny")
    session = ort.InferenceSession(str(repository / "tiny_onnx" / "1" / "model.onnx"))
    names = result.signature.output_names
    with LocalTriton(repository) as server, httpclient.InferenceServerClient(server.http_url, concurrency=8) as client:
        pending = []
        for text in TEXTS:
            tensor = httpclient.InferInput("TEXT", [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[text.encode()]], dtype=np.object_))
            pending.append(client.async_infer("tiny", [tensor]))
        answers = [p.get_result() for p in pending]
        stats = client.get_inference_statistics("tiny_onnx")["model_stats"][0]
    assert stats["execution_count"] < len(TEXTS)  # requests of different lengths were batched together
    for text, answer in zip(TEXTS, answers):
        expected = session.run(names, encoder.encode([text]))
        for name, want in zip(names, expected):
            np.testing.assert_allclose(answer.as_numpy(name), want, rtol=1e-4, atol=1e-5)
