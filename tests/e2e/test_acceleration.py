"""Optimised exports: each option passes its accuracy gate on tiny models, and a missed gate writes nothing."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2 as mc

from export.errors import UsageError, VerificationError
from export.gates import GateOverrides
from export.release_check import run_in_release
from export.settings import Acceleration
from tests.support.exports import export_into
from tritonize.releases import DEFAULT_RELEASE, release
from tritonize.repo_format.pbtxt import parse


def artifact_checks(result: object) -> list:
    """The checks of the artifacts against PyTorch (not PyTorch's own check against the reference library)."""
    return [c for c in result.report.checks if c.against == "PyTorch"]


def onnx_ops(repository: Path, name: str) -> set[str]:
    return {node.op_type for node in onnx.load(str(repository / f"{name}_onnx" / "1" / "model.onnx")).graph.node}


def test_optimize_fuses_and_passes_its_gate(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    result = export_into(tmp_path / "repo", str(tiny_models["bert-sentence"]), "m", formats=("onnx",),
                         acceleration=Acceleration(optimize=True))
    assert {c.gate.variant for c in artifact_checks(result)} == {"fp32 fused"}
    assert all(c.passed and c.min_cosine >= 0.9999 for c in artifact_checks(result))
    assert {"SkipLayerNormalization", "Attention"} & onnx_ops(tmp_path / "repo", "m")


def test_int8_quantizes_matmuls_for_cpu(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    result = export_into(tmp_path / "repo", str(tiny_models["bert-sentence"]), "m", formats=("onnx",),
                         acceleration=Acceleration(quantize="int8"))
    checks = {c.artifact: c for c in artifact_checks(result)}
    assert set(checks) == {"onnx", f"onnx@ort-{release(DEFAULT_RELEASE).onnxruntime}"}
    assert all(c.gate.variant == "int8" and c.passed and c.mean_cosine >= 0.99 for c in checks.values())
    assert "MatMulInteger" in onnx_ops(tmp_path / "repo", "m") or "DynamicQuantizeMatMul" in onnx_ops(
        tmp_path / "repo", "m")


def test_fused_int8_quantizes_attention_too(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """After fusion the Q/K/V projections sit inside Attention nodes: they become QAttention, in Triton's ORT too."""
    result = export_into(tmp_path / "repo", str(tiny_models["bert-sentence"]), "m", formats=("onnx",),
                         acceleration=Acceleration(optimize=True, quantize="int8"))
    checks = {c.artifact: c for c in artifact_checks(result)}
    assert set(checks) == {"onnx", f"onnx@ort-{release(DEFAULT_RELEASE).onnxruntime}"}
    assert all(c.passed for c in checks.values())
    ops = onnx_ops(tmp_path / "repo", "m")
    assert "QAttention" in ops and "Attention" not in ops


def test_int8_classification_gate_is_top_class_agreement(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    result = export_into(tmp_path / "repo", str(tiny_models["bert-classifier"]), "m", formats=("onnx",),
                         acceleration=Acceleration(quantize="int8"), gates=GateOverrides(min_agreement=0.5))
    assert all(c.agreement is not None and c.min_cosine is None for c in artifact_checks(result))


def test_forced_gate_failure_writes_nothing(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    with pytest.raises(VerificationError, match=r"^Verification failed: onnx \(int8\) output 'embeddings' differs from "
                                                r"PyTorch: max \|diff\| [0-9.e-]+ \(atol 0\), min cosine [0-9.]+ "
                                                r"\(gate 0\.97\), mean cosine [0-9.]+ \(gate 0\.99\)\. Nothing was "
                                                r"written\.$"):
        export_into(repository, str(tiny_models["bert-sentence"]), "m", formats=("onnx",),
                    acceleration=Acceleration(quantize="int8"), gates=GateOverrides(atol=0.0))
    assert not repository.exists()


def test_fp16_keeps_public_dtypes_for_both_formats(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    result = export_into(repository, str(tiny_models["bert-sentence"]), "m", instance_kind="gpu",
                         acceleration=Acceleration(fp16=True))
    assert {(c.artifact, c.gate.variant) for c in artifact_checks(result)} == {("onnx", "fp16"),
                                                                               ("torchscript", "fp16")}
    assert all(c.passed and c.min_cosine >= 0.999 for c in artifact_checks(result))
    model = onnx.load(str(repository / "m_onnx" / "1" / "model.onnx"))
    assert {i.type.tensor_type.elem_type for i in model.graph.input} == {TensorProto.INT64}
    assert {o.type.tensor_type.elem_type for o in model.graph.output} == {TensorProto.FLOAT}
    assert any(init.data_type == TensorProto.FLOAT16 for init in model.graph.initializer)


def test_tensorrt_accelerator_in_config(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    export_into(repository, str(tiny_models["bert-classifier"]), "m", formats=("onnx",), instance_kind="gpu",
                acceleration=Acceleration(tensorrt=True, tensorrt_precision="FP16", tensorrt_workspace_mb=512))
    config = parse((repository / "m_onnx" / "config.pbtxt").read_text())
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt"
    assert dict(accelerator.parameters) == {
        "precision_mode": "FP16", "max_workspace_size_bytes": str(512 * 1024 * 1024),
        "trt_engine_cache_enable": "true", "trt_engine_cache_path": "/models/m_onnx/trt_engine_cache"}
    assert config.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    assert [w.batch_size for w in config.model_warmup] == [1, 16]  # first request does not pay the engine build


@pytest.mark.parametrize(("acceleration", "kind", "message"), [
    (Acceleration(quantize="int8"), "gpu", "--quantize int8 targets CPU instances: add --instance-kind cpu."),
    (Acceleration(fp16=True), "cpu", "--fp16 targets GPU instances: use --instance-kind gpu (int8 is the CPU option)."),
    (Acceleration(tensorrt=True), "cpu", "--tensorrt needs --instance-kind gpu and --format onnx."),
])
def test_option_targets(acceleration: Acceleration, kind: str, message: str, tiny_models: dict[str, Path],
                        tmp_path: Path) -> None:
    with pytest.raises(UsageError) as error:
        export_into(tmp_path / "repo", str(tiny_models["bert-base"]), "m", instance_kind=kind,
                    acceleration=acceleration)
    assert str(error.value) == message


def test_release_check_names_an_operator_too_new_for_production(tmp_path: Path) -> None:
    """A graph using an opset-23 operator must not pass as servable by Triton 24.10 (ONNX Runtime 1.19.2)."""
    node = helper.make_node("RMSNormalization", ["x", "scale"], ["y"], axis=-1)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
                      helper.make_tensor_value_info("scale", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 10
    path = tmp_path / "new.onnx"
    onnx.save(model, str(path))
    with pytest.raises(VerificationError, match=r"^The ONNX model does not run in ONNX Runtime 1\.19\.2, the runtime "
                                                r"of Triton 24\.10: .+\. Nothing was written\.$"):
        run_in_release(path, ["y"], [], "24.10")
