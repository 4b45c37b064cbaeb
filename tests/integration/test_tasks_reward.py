"""One-label heads: reward models and regressors serve their raw score, rerankers stay rerankers.

Detection follows what the folder says: sentence-transformers CrossEncoder files → text-ranking; a one-label
head with ``problem_type: regression`` or on a decoder language model (a reward model) → text-classification
whose ``logits`` are the raw score; any other one-label encoder → text-ranking. The export summary names the
choice and the ``--task`` that changes it. Served scores equal transformers' pipeline over HTTP and gRPC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from transformers import pipeline

from export.load_model import read_info
from export.pipeline import ExportResult
from export.settings import ExportSettings
from export.source import resolve_source
from export.summary import summary
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_models import make_cross_encoder, make_regression_model, make_reward_model
from tritonize.contract import Task

pytestmark = pytest.mark.server

#: Mixed texts; the last is longer than the models' 64-token window (served and reference both truncate it).
TEXTS = ["hello", "the quick brown fox jumps over the lazy dog",
         "customer review: the battery lasts two days, the screen is sharp but the speaker far too quiet",
         " ".join(["long inputs are truncated to the model maximum length"] * 12)]
MAKERS = {"reward": make_reward_model, "regression": make_regression_model}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], dict[str, ExportResult]]:
    root = tmp_path_factory.mktemp("one-label")
    folders = {}
    for kind, maker in MAKERS.items():
        (root / kind).mkdir()
        folders[kind] = maker(root / kind)
    repository = root / "model_repository"
    results = {kind: export_into(repository, str(folder), kind, formats=("onnx",)) for kind, folder in folders.items()}
    return repository, folders, results


@pytest.fixture(scope="module")
def triton(exported: tuple[Path, dict[str, Path], dict[str, ExportResult]]):
    with LocalTriton(exported[0], ready_timeout=120) as server:
        yield server


def served(triton: LocalTriton, protocol: str, model: str) -> dict[str, np.ndarray]:
    module = httpclient if protocol == "http" else grpcclient
    with module.InferenceServerClient(triton.http_url if protocol == "http" else triton.grpc_url) as client:
        text = module.InferInput("TEXT", [len(TEXTS), 1], "BYTES")
        text.set_data_from_numpy(np.array([[t.encode()] for t in TEXTS], dtype=object))
        result = client.infer(model, [text])
        return {name: result.as_numpy(name) for name in ("logits", "probabilities")}


def pipeline_scores(folder: Path, function: str | None) -> np.ndarray:
    classify = pipeline("text-classification", model=str(folder), device="cpu")
    options = {"function_to_apply": function} if function else {}
    return np.array([classify(text, truncation=True, **options)[0]["score"] for text in TEXTS])


def test_detection_follows_the_folder(tmp_path: Path) -> None:
    tasks = {}
    for kind, maker in {**MAKERS, "cross-encoder": make_cross_encoder}.items():
        (tmp_path / kind).mkdir()
        tasks[kind] = read_info(resolve_source(str(maker(tmp_path / kind)), None)).task
    assert tasks == {"reward": Task.TEXT_CLASSIFICATION, "regression": Task.TEXT_CLASSIFICATION,
                     "cross-encoder": Task.TEXT_RANKING}
    reranked = read_info(resolve_source(str(tmp_path / "reward"), None), Task.TEXT_RANKING)
    assert reranked.task is Task.TEXT_RANKING


def test_summary_names_the_choice_and_the_flag(exported: tuple) -> None:
    repository, _, results = exported
    settings = ExportSettings(model="x", repository=repository)
    reward = summary(results["reward"], settings)
    assert "task      text-classification, detected from one label on a decoder language model (a reward model)" \
        in reward
    assert "--task text-ranking scores (query, passage) pairs" in reward
    assert "problem_type regression: the raw score" in summary(results["regression"], settings)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_reward_model_serves_the_raw_score(triton: LocalTriton, exported: tuple, protocol: str) -> None:
    folder = exported[1]["reward"]
    outputs = served(triton, protocol, "reward")
    raw = pipeline_scores(folder, "none")
    assert outputs["logits"].shape == (len(TEXTS), 1) and np.ptp(raw) > 0.05
    np.testing.assert_allclose(outputs["logits"][:, 0], raw, atol=1e-4, rtol=0)
    np.testing.assert_allclose(outputs["probabilities"][:, 0], pipeline_scores(folder, None), atol=1e-4, rtol=0)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_regressor_serves_its_logit_as_the_score(triton: LocalTriton, exported: tuple, protocol: str) -> None:
    outputs = served(triton, protocol, "regression")
    expected = pipeline_scores(exported[1]["regression"], None)  # the pipeline applies nothing for regression
    np.testing.assert_allclose(outputs["logits"][:, 0], expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(outputs["probabilities"][:, 0], expected, atol=1e-4, rtol=0)
