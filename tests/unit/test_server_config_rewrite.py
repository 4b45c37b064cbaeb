"""Pure parts of the local server: config translation, Triton's log, batching helpers, adapter sources."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2 as mc

from server import triton_log
from server.adapters import batching, onnx_adapter, torchscript_adapter
from server.adapters.torchscript_adapter import bind_inputs, output_indices
from server.config_rewrite import ARTIFACT_PARAMETER, describe, translate
from tests.support.server import artifact_config, ensemble_config, tokenizer_config
from tritonize.repo_format.pbtxt import parse, render
from tritonize.repo_format.platforms import (
    INTER_OP_THREADS,
    INTRA_OP_THREADS,
    LIBTORCH_NAME,
    libtorch_base_name,
    libtorch_output_name,
)

ADAPTERS = Path(__file__).parents[2] / "server" / "adapters"


def test_onnx_model_becomes_a_python_adapter_with_the_same_interface() -> None:
    original = artifact_config("m_onnx", "onnxruntime_onnx")
    translation = translate("m_onnx", render(original), gpu_count=0)
    served = translation.config
    assert translation.runtime is not None and translation.runtime.name == "onnx"
    assert served.backend == "python" and served.platform == ""
    assert served.parameters[ARTIFACT_PARAMETER].string_value == "model.onnx"
    assert served.name == original.name and served.max_batch_size == original.max_batch_size
    assert list(served.input) == list(original.input) and list(served.output) == list(original.output)
    assert served.dynamic_batching == original.dynamic_batching
    assert served.version_policy == original.version_policy
    assert list(served.model_warmup) == list(original.model_warmup)
    assert served.output[0].label_filename == "labels.txt"


def test_explain_lists_what_differs_from_the_container_per_model() -> None:
    onnx = artifact_config("m_onnx", "onnxruntime_onnx")
    onnx.input[0].allow_ragged_batch = True
    del onnx.parameters["intra_op_thread_count"]
    adapted = translate("m_onnx", render(onnx), gpu_count=0)
    differences = "\n".join(adapted.differences)
    assert "engine: ONNX Runtime of this environment" in differences
    assert "intra_op_thread_count unset" in differences
    assert "allow_ragged_batch: requests of different shapes still run apart" in differences
    torchscript = translate("m_ts", render(artifact_config("m_ts", "pytorch_libtorch")), gpu_count=0)
    assert "Triton's pytorch backend" in torchscript.differences[0]
    python = translate("tok", render(tokenizer_config("tok")), gpu_count=0)
    assert len(python.differences) == 1 and "Python 3.10" in python.differences[0]
    ensemble = translate("e", render(ensemble_config("e", "tok", "m_onnx", {"logits": "logits"})), gpu_count=0)
    assert ensemble.differences == ()
    text = describe("repo", [adapted, python, ensemble], gpu_count=0)
    assert text.count("~ differs from the container:") == len(adapted.differences) + 1


def test_gpu_settings_are_dropped_with_notes_when_no_gpu_is_visible() -> None:
    original = artifact_config("m_onnx", "onnxruntime_onnx")
    original.instance_group[0].gpus.extend([0, 1])
    original.optimization.cuda.graphs = True
    translation = translate("m_onnx", render(original), gpu_count=0)
    served = translation.config
    assert served.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
    assert list(served.instance_group[0].gpus) == []
    assert not served.HasField("optimization")
    notes = "\n".join(translation.notes)
    assert "KIND_GPU → KIND_CPU" in notes
    assert "dropped gpus [0, 1]" in notes
    assert "execution_accelerators (gpu: tensorrt)" in notes
    assert "optimization.cuda" in notes


def test_gpu_instances_stay_when_a_gpu_is_visible() -> None:
    translation = translate("m", render(artifact_config("m", "onnxruntime_onnx")), gpu_count=1)
    assert translation.config.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    assert not any("KIND_CPU" in note for note in translation.notes)


def test_torchscript_keeps_libtorch_names_and_its_artifact_name() -> None:
    original = artifact_config("m_ts", "pytorch_libtorch", outputs=("logits__0", "probabilities__1"))
    original.default_model_filename = "traced.pt"
    translation = translate("m_ts", render(original), gpu_count=0)
    assert translation.runtime.name == "torchscript"
    assert translation.artifact == "traced.pt"
    assert translation.config.default_model_filename == ""
    assert translation.config.parameters[ARTIFACT_PARAMETER].string_value == "traced.pt"
    assert [o.name for o in translation.config.output] == ["logits__0", "probabilities__1"]


def test_backend_field_alone_selects_the_adapter() -> None:
    config = mc.ModelConfig(name="m", backend="onnxruntime", max_batch_size=4)
    assert translate("m", render(config), gpu_count=0).runtime.name == "onnx"


def test_python_and_ensemble_models_are_served_untouched() -> None:
    python = translate("tok", render(tokenizer_config("tok")), gpu_count=0)
    ensemble = translate("e", render(ensemble_config("e", "tok", "m", {"logits": "logits"})), gpu_count=0)
    assert python.unchanged and python.python and python.notes == ()
    assert ensemble.unchanged and not ensemble.python and ensemble.notes == ()
    assert "as is" in python.summary()


def test_python_model_on_gpu_is_rewritten_for_cpu_without_gpu() -> None:
    config = tokenizer_config("tok")
    config.instance_group[0].kind = mc.ModelInstanceGroup.KIND_GPU
    translation = translate("tok", render(config), gpu_count=0)
    assert not translation.unchanged and translation.runtime is None
    assert translation.config.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
    assert translation.config.backend == "python"


def test_unreadable_or_unknown_models_are_left_for_triton_to_judge() -> None:
    broken = translate("b", "name: 'b' platform: [", gpu_count=0)
    missing = translate("m", None, gpu_count=0)
    plan = translate("t", render(mc.ModelConfig(name="t", platform="tensorrt_plan")), gpu_count=0)
    assert broken.unchanged and "does not parse" in broken.notes[0]
    assert missing.unchanged and "no config.pbtxt" in missing.notes[0]
    assert plan.unchanged and "no 'tensorrt_plan' backend" in plan.notes[0]


def test_unused_parameters_are_named() -> None:
    config = artifact_config("m", "onnxruntime_onnx")
    config.parameters["execution_mode"].string_value = "1"
    notes = translate("m", render(config), gpu_count=0).notes
    assert any("does not use: execution_mode" in note for note in notes)


def test_render_keeps_max_batch_size_zero() -> None:
    config = artifact_config("flat", "onnxruntime_onnx", max_batch_size=0)
    served = translate("flat", render(config), gpu_count=0).config
    text = render(served)
    assert "max_batch_size: 0" in text
    assert parse(text).max_batch_size == 0


def test_describe_lists_every_model_with_its_notes() -> None:
    translations = [translate("m_onnx", render(artifact_config("m_onnx", "onnxruntime_onnx")), 0),
                    translate("tok", render(tokenizer_config("tok")), 0)]
    text = describe("/repo", translations, 0)
    assert "How the bundled Triton serves /repo (no GPU visible)" in text
    assert "m_onnx  onnxruntime_onnx → Python-backend adapter (ONNX Runtime)" in text
    assert "KIND_GPU → KIND_CPU" in text
    assert "tok     python (as is)" in text


LOG = r'''I1126 18:12:41.230036 6540 model_lifecycle.cc:472] "loading: bad:1"
E1126 18:12:41.566074 6540 model_lifecycle.cc:642] "failed to load 'bad' version 1: Internal: ValueError: boom\n\nAt:\n  /tmp/r/bad/1/model.py(5): initialize\n"
I1126 18:12:41.566086 6540 model_lifecycle.cc:777] "failed to load 'bad'"
E1126 18:12:41.230036 6540 model_lifecycle.cc:642] "failed to load 'gpu' version 1: Invalid argument: instance group gpu_0 of model gpu has kind KIND_GPU but no GPUs are available"
+-------+
| Model |
E1126 18:12:49.468119 6642 main.cc:257] "failed to start HTTP service: Unavailable - Socket '0.0.0.0:18000' already in use "
'''  # noqa: E501


def test_load_failures_are_triton_s_own_lines() -> None:
    failures = triton_log.load_failures(LOG)
    assert [(f.model, f.version) for f in failures] == [("bad", 1), ("gpu", 1)]
    assert failures[0].line == "failed to load 'bad' version 1: Internal: ValueError: boom"
    assert "model.py(5): initialize" in failures[0].detail
    assert failures[1].line.endswith("has kind KIND_GPU but no GPUs are available")


def test_busy_port_is_read_from_the_log() -> None:
    assert triton_log.busy_port(LOG) == ("http", 18000)
    assert triton_log.busy_port("I1126 18:12:49.468119 6642 main.cc:257] \"ready\"") is None
    assert "| Model |" not in triton_log.tail(LOG)


@pytest.mark.parametrize("name", ["onnx_adapter.py", "torchscript_adapter.py", "batching.py"])
def test_adapters_parse_on_python_3_10(name: str) -> None:
    source = (ADAPTERS / name).read_text()
    ast.parse(source, feature_version=(3, 10))
    imports = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import)
               for alias in node.names}
    imports |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    allowed = {"__future__", "json", "os", "re", "contextlib", "warnings", "numpy", "onnxruntime", "torch",
               "triton_python_backend_utils", "tritonize_batching", "server", "collections"}
    assert imports <= allowed, imports - allowed


def test_requests_are_grouped_by_shape_and_merged_in_one_batch() -> None:
    a = {"ids": np.zeros((2, 4)), "mask": np.zeros((2, 4))}
    b = {"ids": np.ones((3, 4)), "mask": np.ones((3, 4))}
    c = {"ids": np.ones((1, 7)), "mask": np.ones((1, 7))}
    assert batching.group_by_shape([a, b, c]) == [[0, 1], [2]]
    feed, sizes = batching.merge([a, b, c], [0, 1])
    assert sizes == [2, 3] and feed["ids"].shape == (5, 4)
    single, sizes = batching.merge([a, b, c], [2])
    assert single is c and sizes == [1]


def test_outputs_are_split_into_views() -> None:
    outputs = {"logits": np.arange(15, dtype=np.float32).reshape(5, 3)}
    parts = batching.split(outputs, [2, 3])
    assert [p["logits"].shape for p in parts] == [(2, 3), (3, 3)]
    assert all(np.shares_memory(p["logits"], outputs["logits"]) for p in parts)
    assert parts[1]["logits"].flags.c_contiguous
    with pytest.raises(ValueError, match="first axis should hold the 6 rows"):
        batching.split(outputs, [3, 3])


def test_threads_come_from_the_parameter_or_the_runtime_default_like_triton() -> None:
    assert batching.thread_count({}, "intra_op_thread_count") == 0  # the runtime's default, per instance
    assert batching.thread_count({"intra_op_thread_count": "3"}, "intra_op_thread_count") == 3
    assert batching.thread_count({"intra_op_thread_count": "x"}, "intra_op_thread_count") == 0


def test_adapters_read_the_parameters_the_format_names() -> None:
    """The adapters run inside Triton's stub and cannot import the format module: their literals must match."""
    assert (INTRA_OP_THREADS["onnx"], INTER_OP_THREADS["onnx"]) == onnx_adapter.THREAD_PARAMETERS
    assert (INTRA_OP_THREADS["torchscript"], INTER_OP_THREADS["torchscript"]) == torchscript_adapter.THREAD_PARAMETERS
    assert onnx_adapter.ARTIFACT_PARAMETER == torchscript_adapter.ARTIFACT_PARAMETER == ARTIFACT_PARAMETER
    assert torchscript_adapter._INDEXED.pattern == LIBTORCH_NAME.pattern


def test_libtorch_output_names_round_trip_through_the_adapter() -> None:
    names = [libtorch_output_name(name, index) for index, name in enumerate(["logits", "probabilities"])]
    assert names == ["logits__0", "probabilities__1"]
    assert output_indices(list(reversed(names))) == {"probabilities__1": 1, "logits__0": 0}
    assert [libtorch_base_name(name) for name in [*names, "embeddings", "a__b"]] == \
        ["logits", "probabilities", "embeddings", "a__b"]


def test_libtorch_naming_conventions() -> None:
    arguments = ["input_ids", "attention_mask"]
    assert bind_inputs(["attention_mask", "input_ids"], arguments) == {"attention_mask": "attention_mask",
                                                                      "input_ids": "input_ids"}
    assert bind_inputs(["INPUT__0", "INPUT__1"], arguments) == {"INPUT__0": "input_ids", "INPUT__1": "attention_mask"}
    with pytest.raises(ValueError, match="needs arguments the config does not declare: attention_mask"):
        bind_inputs(["input_ids"], arguments)
    with pytest.raises(ValueError, match="neither an argument"):
        bind_inputs(["tokens", "attention_mask"], arguments)
    assert output_indices(["probabilities__1", "logits__0"]) == {"probabilities__1": 1, "logits__0": 0}
    assert output_indices(["a", "b"]) == {"a": 0, "b": 1}
