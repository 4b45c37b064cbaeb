"""The hop A/B's one-step model and the peers' load generator against the real local Triton (tiny embedder)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks import http_load
from benchmarks.fused_repository import add_fused
from server.local import LocalTriton
from tritonize.repo_format.names import ModelNames
from tritonize.repo_format.pbtxt import read_config

TEXTS = ("hello world", "Café in Zürich — naïve façade 東京 🚀", "word " * 200, "the battery lasts two days")


@pytest.fixture(scope="module")
def one_step_repository(tiny_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny embedder's three models (the shared repository stays as it is) plus both one-step
    models."""
    names = ModelNames("tiny_emb")
    repository = tmp_path_factory.mktemp("one-step") / "model_repository"
    for model in (names.ensemble, names.tokenizer, names.artifact("onnx")):
        shutil.copytree(tiny_repository / model, repository / model, symlinks=True)
    assert add_fused(repository, "tiny_emb") == "tiny_emb_fused"
    assert add_fused(repository, "tiny_emb", batched=False) == "tiny_emb_fused_unbatched"
    return repository


def test_one_step_config_keeps_the_onnx_models_serving_settings(one_step_repository: Path) -> None:
    fused = read_config(one_step_repository / "tiny_emb_fused")
    onnx = read_config(one_step_repository / "tiny_emb_onnx")
    tokenizer = read_config(one_step_repository / "tiny_emb_tokenizer")
    assert fused.backend == "python" and not fused.platform and not fused.model_warmup
    assert list(fused.input) == list(tokenizer.input) and list(fused.output) == list(onnx.output)
    assert fused.instance_group == onnx.instance_group and fused.dynamic_batching == onnx.dynamic_batching
    assert set(tokenizer.parameters) <= set(fused.parameters)
    unbatched = read_config(one_step_repository / "tiny_emb_fused_unbatched")
    assert not unbatched.HasField("dynamic_batching") and unbatched.max_batch_size == onnx.max_batch_size


def test_one_step_answers_what_the_ensemble_answers(one_step_repository: Path) -> None:
    with LocalTriton(one_step_repository) as server:
        ensemble = http_load.kserve_target("ensemble", server.http_url, "tiny_emb")
        fused = http_load.kserve_target("fused", server.http_url, "tiny_emb_fused")
        unbatched = http_load.kserve_target("unbatched", server.http_url, "tiny_emb_fused_unbatched")
        for text in TEXTS:
            want, *got = (np.array(http_load.post_one(t, text)["outputs"][0]["data"])
                          for t in (ensemble, fused, unbatched))
            for vector in got:
                np.testing.assert_allclose(vector, want, atol=1e-6)
        stats = http_load.measure(fused, list(TEXTS), concurrency=4, seconds=1.0, warmup_s=0.2)
        empty = http_load.measure(fused, [""], concurrency=1, seconds=0.3, warmup_s=0.0)
    assert stats.answered > 0 and stats.failed == 0 and 0 < stats.p50_ms <= stats.p99_ms
    assert empty.answered == 0 and empty.failed > 0  # an empty text is refused, as the tokenizer model does
