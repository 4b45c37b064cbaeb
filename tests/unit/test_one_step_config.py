"""The one-step model's config (and how the client and gateway read it) and the rule that picks the serving path.

Pure logic, no server.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from client.metadata import ModelInterface
from client.plan import RequestPlan
from export.errors import UsageError
from export.serving import choose_serving
from export.settings import DEFAULT_BATCHING, ExportSettings
from export.triton_config import (
    ModelNames,
    artifact_config,
    ensemble_config,
    one_step_config,
    tokenizer_config,
    warmup_files,
)
from gateway.catalog import EMBEDDING_TASK, build_catalog
from tritonize.contract import TOKEN_COUNT, Signature, Task
from tritonize.repo_format.pbtxt import parse, render
from tritonize.repo_format.platforms import ONE_STEP, SERVING_KEY
from tritonize.repo_format.tokenizer_encoding import TokenizerParameters
from tritonize.repo_format.tokenizer_folder import is_one_step, tokenizer_parameters

NAMES = ModelNames("reviews")
CLASSIFIER = Signature.build(Task.TEXT_CLASSIFICATION, ["input_ids", "attention_mask"], 32, 3)
RERANKER = Signature.build(Task.TEXT_RANKING, ["input_ids", "attention_mask", "token_type_ids"], 32, 1)
PARAMETERS = TokenizerParameters(128, 8, 0, prompts={"query": "query: "}, default_prompt_name="query")
CPU = ExportSettings(instance_kind="cpu")


def test_one_step_config_is_the_ensembles_interface_with_the_onnx_models_serving_settings() -> None:
    config = one_step_config(NAMES, CLASSIFIER, CPU, PARAMETERS, has_labels=True, prompts=True)
    onnx = artifact_config(NAMES, "onnx", CLASSIFIER, CPU, True)
    tokenizer = tokenizer_config(NAMES, CLASSIFIER, CPU, PARAMETERS, prompts=True)
    assert (config.name, config.backend, config.platform) == ("reviews", "python", "")
    assert list(config.input) == list(tokenizer.input)  # TEXT and the optional PROMPT_NAME
    assert [i.name for i in config.input] == ["TEXT", "PROMPT_NAME"] and config.input[1].optional
    assert list(config.output) == [*onnx.output, mc.ModelOutput(name="token_count", data_type=mc.TYPE_INT64, dims=[1])]
    assert all(o.label_filename == "labels.txt" for o in onnx.output)  # Triton's classification extension
    assert config.instance_group == onnx.instance_group and config.dynamic_batching == onnx.dynamic_batching
    assert config.max_batch_size == onnx.max_batch_size and config.version_policy == onnx.version_policy
    assert config.parameters["intra_op_thread_count"].string_value == "1"
    assert tokenizer_parameters(config) == PARAMETERS
    assert is_one_step(config) and config.parameters[SERVING_KEY].string_value == ONE_STEP
    assert not is_one_step(onnx) and not is_one_step(tokenizer)
    assert parse(render(config)) == config


def test_one_step_warms_up_with_texts_at_batch_1_and_the_largest_batch() -> None:
    config = one_step_config(NAMES, RERANKER, CPU, PARAMETERS, has_labels=False)
    assert [w.batch_size for w in config.model_warmup] == [1, CPU.batching.max_batch_size]
    for warmup in config.model_warmup:
        assert set(warmup.inputs) == {"QUERY", "PASSAGE"}
        for name, given in warmup.inputs.items():
            assert (given.data_type, list(given.dims), given.input_data_file) == (mc.TYPE_STRING, [1], name)
    files = warmup_files(RERANKER)
    assert set(files) == {"warmup/QUERY", "warmup/PASSAGE"}
    item = files["warmup/QUERY"]  # Triton's BYTES layout: a 4-byte little-endian length, then the UTF-8 bytes
    assert int.from_bytes(item[:4], "little") == len(item) - 4 and item[4:].decode().strip()


def test_the_token_count_is_for_the_gateway_not_a_prediction_the_client_shows() -> None:
    embedder = Signature.build(Task.FEATURE_EXTRACTION, ["input_ids", "attention_mask"], 32, 0)
    config = one_step_config(NAMES, embedder, CPU, PARAMETERS, has_labels=False, prompts=True)
    assert config.output[-1].name == TOKEN_COUNT.name and TOKEN_COUNT.triton_dtype == "INT64"
    interface = ModelInterface.from_config(config)
    assert [spec.name for spec in interface.outputs] == ["embeddings"]
    assert [o.name for o in RequestPlan.build(interface).outputs()] == ["embeddings"]
    classifier = ModelInterface.from_config(one_step_config(NAMES, CLASSIFIER, CPU, PARAMETERS, has_labels=True))
    plan = RequestPlan.build(classifier, top_k=2)
    assert [(o.name, o.class_count) for o in plan.outputs()] == [("logits", 0), ("probabilities", 2)]
    served = build_catalog({config.name: config})[config.name]
    assert served.task == EMBEDDING_TASK and served.counts_tokens and served.tokenizer.model == config.name
    older = mc.ModelConfig()
    older.CopyFrom(config)
    del older.output[-1]  # exported before the one-step model had token_count: the gateway does not ask for it
    assert not build_catalog({older.name: older})[older.name].counts_tokens
    ensemble = ensemble_config(NAMES, "onnx", embedder, CPU, has_labels=False, prompts=True)
    assert TOKEN_COUNT.name not in [o.name for o in ensemble.output]  # the ensemble's tokenizer step gives masks


@pytest.mark.parametrize(("settings", "task", "fmt", "zero_shot", "path"), [
    (CPU, Task.FEATURE_EXTRACTION, "onnx", False, "one-step"),
    (CPU, Task.TEXT_CLASSIFICATION, "onnx", False, "one-step"),
    (CPU, Task.TEXT_RANKING, "onnx", False, "one-step"),
    (CPU, Task.TEXT_RANKING, "onnx", True, "ensemble"),  # the zero-shot model calls the pair ensemble
    (CPU, Task.TOKEN_CLASSIFICATION, "onnx", False, "ensemble"),
    (CPU, Task.SPARSE_EMBEDDING, "onnx", False, "ensemble"),
    (CPU, Task.MULTI_VECTOR, "onnx", False, "ensemble"),
    (CPU, Task.FEATURE_EXTRACTION, "torchscript", False, "ensemble"),
    (ExportSettings(instance_kind="gpu"), Task.FEATURE_EXTRACTION, "onnx", False, "ensemble"),
    (replace(CPU, batching=replace(DEFAULT_BATCHING["cpu"], max_batch_size=0)), Task.FEATURE_EXTRACTION, "onnx",
     False, "ensemble"),
])
def test_default_rule(settings: ExportSettings, task: Task, fmt: str, zero_shot: bool, path: str) -> None:
    choice = choose_serving(settings, task, fmt, zero_shot)
    assert choice.path == path and choice.reason.startswith("default")
    assert choose_serving(replace(settings, serving="ensemble"), task, fmt, zero_shot).path == "ensemble"


def test_the_gpu_defaults_do_not_change() -> None:
    gpu = ExportSettings(instance_kind="gpu")
    assert (gpu.instance_count, gpu.batching.max_queue_delay_us, gpu.batching.pad_to_multiple_of) == (1, 2000, 16)
    assert choose_serving(gpu, Task.FEATURE_EXTRACTION, "onnx", False).path == "ensemble"


@pytest.mark.parametrize(("settings", "task", "fmt", "why"), [
    (ExportSettings(instance_kind="gpu"), Task.FEATURE_EXTRACTION, "onnx", "GPU instances keep the ensemble"),
    (CPU, Task.TOKEN_CLASSIFICATION, "onnx", "token-classification has a step after the model"),
    (CPU, Task.FEATURE_EXTRACTION, "torchscript", "the ensemble calls the torchscript artifact"),
])
def test_asking_one_step_where_it_cannot_apply_is_a_usage_error_naming_why(settings: ExportSettings, task: Task,
                                                                          fmt: str, why: str) -> None:
    with pytest.raises(UsageError) as raised:
        choose_serving(replace(settings, serving="one-step"), task, fmt, False)
    message = str(raised.value)
    assert message.startswith(f"--serving one-step does not apply here: {why}") and "\n" not in message
