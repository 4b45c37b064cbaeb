"""Configs are ModelConfig protobufs: golden files, round trips, and the rules Triton enforces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from export.settings import BatchingSettings, ExportSettings
from export.triton_config import ModelNames, artifact_config, ensemble_config, tokenizer_config
from tritonize.contract import Signature, Task
from tritonize.repo_format.pbtxt import parse, render
from tritonize.repo_format.tokenizer_encoding import TokenizerParameters

GOLDEN = Path(__file__).parents[1] / "support" / "golden"
NAMES = ModelNames("reviews")
SIGNATURE = Signature.build(Task.TEXT_CLASSIFICATION, ["input_ids", "attention_mask"], 32, 3)
SETTINGS = ExportSettings(batching=BatchingSettings(max_batch_size=8, max_queue_delay_us=500,
                                                    preferred_batch_sizes=(4, 8), pad_to_multiple_of=32))


def configs() -> dict[str, mc.ModelConfig]:
    return {
        "ensemble": ensemble_config(NAMES, "torchscript", SIGNATURE, SETTINGS, True),
        "tokenizer": tokenizer_config(NAMES, SIGNATURE, SETTINGS, TokenizerParameters(128, 32, 1)),
        "onnx": artifact_config(NAMES, "onnx", SIGNATURE, SETTINGS, True),
        "torchscript": artifact_config(NAMES, "torchscript", SIGNATURE, SETTINGS, True),
    }


@pytest.mark.parametrize("kind", ["ensemble", "tokenizer", "onnx", "torchscript"])
def test_golden(kind: str) -> None:
    text = render(configs()[kind])
    golden = GOLDEN / f"{kind}.pbtxt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()
    assert parse(text) == configs()[kind]


def test_round_trip_through_text_format() -> None:
    for config in configs().values():
        assert text_format.Parse(render(config), mc.ModelConfig()) == config


def test_max_batch_size_zero_is_written_and_dims_carry_the_batch() -> None:
    settings = ExportSettings(batching=BatchingSettings(max_batch_size=0))
    config = artifact_config(NAMES, "onnx", SIGNATURE, settings, False)
    text = render(config)
    assert "max_batch_size: 0" in text
    assert not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [-1, -1]
    assert list(config.output[0].dims) == [-1, 3]


def test_ensemble_wiring_is_consistent_with_its_steps() -> None:
    every = configs()
    ensemble, tokenizer, model = every["ensemble"], every["tokenizer"], every["torchscript"]
    first, second = ensemble.ensemble_scheduling.step
    assert first.model_name == tokenizer.name and second.model_name == model.name
    assert set(first.output_map) == {o.name for o in tokenizer.output} == {i.name for i in model.input}
    assert set(second.input_map) == {i.name for i in model.input}
    assert set(second.output_map) == {o.name for o in model.output}
    assert set(second.output_map.values()) == {o.name for o in ensemble.output}
    assert ensemble.max_batch_size == tokenizer.max_batch_size == model.max_batch_size
    assert [o.label_filename for o in ensemble.output] == ["labels.txt", "labels.txt"]


def test_instance_kind_and_warmup() -> None:
    gpu = configs()["onnx"]
    assert gpu.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    assert [w.batch_size for w in gpu.model_warmup] == [1, 8]
    assert all(list(i.dims) == [32] and i.zero_data for w in gpu.model_warmup for i in w.inputs.values())
    cpu = artifact_config(NAMES, "onnx", SIGNATURE, ExportSettings(instance_kind="cpu", instance_count=3), False)
    assert (cpu.instance_group[0].kind, cpu.instance_group[0].count) == (mc.ModelInstanceGroup.KIND_CPU, 3)
    assert all(o.label_filename == "" for o in cpu.output)


def test_defaults_follow_the_instance_kind() -> None:
    """CPU exports get the tuned CPU defaults (short queue delay, three single-threaded instances); GPU keeps its."""
    gpu = artifact_config(NAMES, "onnx", SIGNATURE, ExportSettings(instance_kind="gpu"), False)
    cpu = artifact_config(NAMES, "onnx", SIGNATURE, ExportSettings(instance_kind="cpu"), False)
    assert (gpu.dynamic_batching.max_queue_delay_microseconds, gpu.instance_group[0].count) == (2000, 1)
    assert (cpu.dynamic_batching.max_queue_delay_microseconds, cpu.instance_group[0].count) == (500, 3)
    assert ExportSettings(instance_kind="cpu", batching=BatchingSettings(max_queue_delay_us=7)).batching == \
        BatchingSettings(max_queue_delay_us=7)
    assert dict(cpu.parameters) == {"intra_op_thread_count": mc.ModelParameter(string_value="1")}
    assert not gpu.parameters
    backend_default = ExportSettings(instance_kind="cpu", threads_per_instance=0)
    assert not artifact_config(NAMES, "onnx", SIGNATURE, backend_default, False).parameters


@pytest.mark.parametrize(("fmt", "key"), [("onnx", "intra_op_thread_count"), ("torchscript", "INTRA_OP_THREAD_COUNT")])
def test_threads_per_instance_use_each_backends_parameter(fmt: str, key: str) -> None:
    config = artifact_config(NAMES, fmt, SIGNATURE, ExportSettings(instance_kind="cpu", threads_per_instance=3), False)
    assert dict(config.parameters) == {key: mc.ModelParameter(string_value="3")}


def test_pair_models_take_no_prompt_name() -> None:
    ranking = Signature.build(Task.TEXT_RANKING, ["input_ids", "attention_mask"], 32, 1)
    tokenizer = tokenizer_config(NAMES, ranking, SETTINGS, TokenizerParameters(128, 32, 1), prompts=True)
    ensemble = ensemble_config(NAMES, "onnx", ranking, SETTINGS, False, prompts=True)
    assert [i.name for i in tokenizer.input] == [i.name for i in ensemble.input] == ["QUERY", "PASSAGE"]
    texts = tokenizer_config(NAMES, SIGNATURE, SETTINGS, TokenizerParameters(128, 32, 1), prompts=True)
    assert [(i.name, i.optional) for i in texts.input] == [("TEXT", False), ("PROMPT_NAME", True)]
