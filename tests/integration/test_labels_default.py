"""Classifiers whose config.json names no labels get transformers' defaults: 2 classes, LABEL_0 and LABEL_1.

transformers 5 writes neither ``id2label`` nor ``num_labels`` when a classifier keeps its default labels, the most
common shape of a fine-tuned classifier. The export used to write ``dims: 0`` (which Triton refuses) and crash
on token classifiers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from transformers import pipeline

from client import TextClient
from export.pipeline import ExportResult
from export.tasks.detection import class_names
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_models import make_default_labels
from tritonize.repo_format.pbtxt import parse

pytestmark = pytest.mark.server

TEXTS = ["John lives in Paris.", "the quick brown fox jumps over the lazy dog", "hello"]


def test_class_names_follow_transformers() -> None:
    assert class_names({}) == ("LABEL_0", "LABEL_1")
    assert class_names({"num_labels": 3}) == ("LABEL_0", "LABEL_1", "LABEL_2")
    assert class_names({"id2label": {"1": "pos", "0": "neg"}, "num_labels": 5}) == ("neg", "pos")
    assert class_names({"id2label": {str(i): f"c{i}" for i in range(12)}})[10] == "c10"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], dict[str, ExportResult]]:
    root = tmp_path_factory.mktemp("default-labels")
    folders = {}
    for task in ("text-classification", "token-classification"):
        (root / task).mkdir()
        folders[task] = make_default_labels(root / task, task)
    assert "id2label" not in json.loads((folders["text-classification"] / "config.json").read_text())
    repository = root / "model_repository"
    results = {
        "cls": export_into(repository, str(folders["text-classification"]), "cls", formats=("onnx",),
                           release_check=False, load_check=True),
        "tok": export_into(repository, str(folders["token-classification"]), "tok", formats=("onnx",),
                           release_check=False, load_check=True),
    }
    return repository, folders, results


@pytest.fixture(scope="module")
def triton(exported: tuple[Path, dict[str, Path], dict[str, ExportResult]]):
    with LocalTriton(exported[0], ready_timeout=120) as server:
        yield server


def test_classifier_gets_two_labelled_classes_in_graph_labels_and_served_row(exported: tuple) -> None:
    repository, _, results = exported
    result = results["cls"]
    assert result.labels == ("LABEL_0", "LABEL_1")
    assert [list(spec.dims) for spec in result.signature.outputs] == [[2], [2]]
    for model in ("cls", "cls_onnx"):
        config = parse((repository / model / "config.pbtxt").read_text())
        assert [list(output.dims) for output in config.output] == [[2], [2]]
        assert (repository / model / "labels.txt").read_text() == "LABEL_0\nLABEL_1\n"
    assert any(check.artifact == "served@triton-2.51" and check.passed for check in result.report.checks)


def test_token_classifier_exports_and_serves_the_pipeline_s_entities(exported: tuple, triton: LocalTriton) -> None:
    _, folders, results = exported
    assert results["tok"].labels == ("LABEL_0", "LABEL_1")
    tagger = pipeline("token-classification", model=str(folders["token-classification"]),
                      aggregation_strategy="simple")
    expected = [[{k: v for k, v in e.items() if k != "score"} for e in tagger(text)] for text in TEXTS]
    assert {e["entity_group"] for entities in expected for e in entities} <= {"LABEL_0", "LABEL_1"}
    tensor = httpclient.InferInput("TEXT", [len(TEXTS), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[t.encode()] for t in TEXTS], dtype=object))
    with httpclient.InferenceServerClient(triton.http_url) as client:
        answer = client.infer("tok", [tensor], outputs=[httpclient.InferRequestedOutput("entities")])
    served = [[{k: v for k, v in e.items() if k != "score"} for e in json.loads(item[0])]
              for item in answer.as_numpy("entities")]
    assert served == expected and sum(map(len, served)) > 0


def test_client_shows_the_default_labels(triton: LocalTriton, exported: tuple) -> None:
    _, folders, _ = exported
    reference = pipeline("text-classification", model=str(folders["text-classification"]))
    with TextClient(triton.http_url, "http") as text_client:
        predictions = text_client.predict(TEXTS, model="cls")
    for prediction, text in zip(predictions, TEXTS, strict=True):
        want = reference(text)[0]
        assert prediction.labels[0].label == want["label"]
        assert abs(prediction.labels[0].score - want["score"]) < 1e-4
        assert {label.label for label in prediction.labels} == {"LABEL_0", "LABEL_1"}
