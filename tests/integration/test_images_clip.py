"""CLIP and SigLIP exports served as two towers in one space, and zero-shot classification composed from them.

A tiny CLIPModel (CLIP's byte-level BPE tokenizer with ``</w>``, CLIP's image processor) and a tiny SiglipModel
(texts padded to 64 tokens, sigmoid scores, a logit bias) are each exported once: ``NAME_image`` (image bytes →
``get_image_features``) and ``NAME_text`` (text → ``get_text_features``) are served by the real local Triton,
over HTTP and gRPC, and compared with the model itself and with ``pipeline("zero-shot-image-classification")``
on the generated test images.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from client import ImageClient
from client.cli import cli
from export.images.verification import verification_images
from export.pipeline import ExportResult
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_images import make_clip, make_clip_vision, make_siglip, make_st_clip
from tritonize.repo_format.pbtxt import parse
from tritonize.repo_format.zero_shot import SIGMOID, SOFTMAX, ZeroShot

pytestmark = pytest.mark.server

LABELS = ["cat", "dog", "a red square"]
TEXTS = ["a photo of a cat", "the quick brown fox", "hello"]
ATOL = 1e-5


MAKERS = {"clip": make_clip, "siglip": make_siglip}


@pytest.fixture(scope="module", params=sorted(MAKERS))
def exported(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, ExportResult]:
    family = request.param
    root = tmp_path_factory.mktemp(family)
    folder = root / family
    folder.mkdir()
    MAKERS[family](folder)
    result = export_into(root / "model_repository", str(folder), family, formats=("onnx",), release_check=False)
    return root / "model_repository", folder, result


@pytest.fixture(scope="module")
def triton(exported: tuple[Path, Path, ExportResult]):
    with LocalTriton(exported[0], ready_timeout=120) as server:
        yield server


@pytest.fixture(scope="module")
def reference(exported: tuple[Path, Path, ExportResult]) -> dict[str, object]:
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer, pipeline
    from transformers.image_utils import load_image

    folder = str(exported[1])
    model = AutoModel.from_pretrained(folder).eval()
    processor, tokenizer = AutoImageProcessor.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    padding = {"padding": "max_length", "max_length": 64} if "siglip" in model.config.model_type else {}
    images = [Image.open(io.BytesIO(data)) for data in verification_images().values()]
    with torch.inference_mode():
        image_features = [model.get_image_features(**processor(images=load_image(i), return_tensors="pt"))
                          .pooler_output[0].numpy() for i in images]
        text_features = [model.get_text_features(**tokenizer([t], return_tensors="pt", **padding))
                         .pooler_output[0].numpy() for t in TEXTS]
    classify = pipeline("zero-shot-image-classification", model=folder, device="cpu")
    zero_shot = [{a["label"]: a["score"] for a in classify(i, candidate_labels=LABELS)} for i in images]
    return {"image": image_features, "text": text_features, "zero_shot": zero_shot}


def test_one_export_writes_two_towers_and_the_zero_shot_settings(exported: tuple[Path, Path, ExportResult]) -> None:
    repository, folder, result = exported
    family = folder.name
    assert result.names.ensemble == f"{family}_image" and result.text_names.ensemble == f"{family}_text"
    assert all(check.passed for check in result.report.checks)
    assert {"zero-shot (towers)", "text onnx", "onnx"} <= {c.artifact for c in result.report.checks}
    config = parse((repository / f"{family}_image" / "config.pbtxt").read_text())
    settings = ZeroShot.from_strings({k: v.string_value for k, v in config.parameters.items()})
    assert settings.text_model == f"{family}_text"
    if family == "clip":
        assert settings.scores == SOFTMAX and settings.logit_bias == 0.0
        assert settings.logit_scale == pytest.approx(float(np.exp(2.6592)), rel=1e-4)  # CLIP's initial scale
    else:
        assert settings.scores == SIGMOID and settings.logit_bias == -2.0
        assert settings.logit_scale == pytest.approx(float(np.exp(1.5)), rel=1e-6)
        tokenizer = parse((repository / "siglip_text_tokenizer" / "config.pbtxt").read_text())
        assert tokenizer.parameters["pad_to_multiple_of"].string_value == "64"  # every text padded to 64
    for name in ("image", "image_preprocess", "image_onnx", "text", "text_tokenizer", "text_onnx"):
        assert (repository / f"{family}_{name}" / "config.pbtxt").is_file(), name


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_towers_equal_get_image_features_and_get_text_features(triton: LocalTriton, reference: dict[str, object],
                                                               exported: tuple[Path, Path, ExportResult],
                                                               protocol: str) -> None:
    url = triton.http_url if protocol == "http" else triton.grpc_url
    family = exported[1].name
    with ImageClient(url, protocol) as client:
        images = client.embed_images(list(verification_images().values()), f"{family}_image")
        worst = max(float(np.max(np.abs(p.outputs["embeddings"] - want)))
                    for p, want in zip(images, reference["image"]))
        assert worst < ATOL, worst
        texts = client.predict(TEXTS, f"{family}_text")
        worst = max(float(np.max(np.abs(p.outputs["embeddings"] - want)))
                    for p, want in zip(texts, reference["text"]))
        assert worst < ATOL, worst


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_zero_shot_scores_equal_the_pipelines(triton: LocalTriton, reference: dict[str, object],
                                              exported: tuple[Path, Path, ExportResult], protocol: str) -> None:
    url = triton.http_url if protocol == "http" else triton.grpc_url
    with ImageClient(url, protocol) as client:
        predictions = client.zero_shot(list(verification_images().values()), LABELS)
    for prediction, want in zip(predictions, reference["zero_shot"]):
        got = {label.label: label.score for label in prediction.labels}
        assert max(abs(got[label] - want[label]) for label in LABELS) < ATOL
        assert prediction.labels[0].label == max(want, key=want.get)
        if exported[1].name == "clip":
            assert sum(got.values()) == pytest.approx(1.0, abs=1e-5)  # CLIP: softmax over the labels


def test_cli_zero_shot_with_labels(triton: LocalTriton, tmp_path: Path, reference: dict[str, object]) -> None:
    path = tmp_path / "rotated.jpg"
    path.write_bytes(verification_images()["rotated.jpg"])
    result = CliRunner().invoke(cli, ["--url", triton.http_url, "predict", "--image", str(path), "--labels",
                                      ",".join(LABELS), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)[0]
    want = reference["zero_shot"][list(verification_images()).index("rotated.jpg")]
    assert {entry["label"]: entry["score"] for entry in record["labels"]} == pytest.approx(want, abs=ATOL)
    result = CliRunner().invoke(cli, ["--url", triton.http_url, "predict", "--labels", "a,b", "hello"])
    assert result.exit_code == 2


def test_sentence_transformers_clip_folder_equals_encode_and_vision_projection_exports(tmp_path: Path) -> None:
    """An ST CLIP folder exports as its CLIP model, checked against SentenceTransformer.encode (images decoded
    as the pipeline decodes them, texts); CLIPVisionModelWithProjection serves its image_embeds."""
    (tmp_path / "clip").mkdir()
    clip = make_clip(tmp_path / "clip")
    st_folder = tmp_path / "st-clip"
    st_folder.mkdir()
    make_st_clip(st_folder, clip)
    result = export_into(tmp_path / "repo", str(st_folder), "st_clip", formats=("onnx",), release_check=False)
    against = [c for c in result.report.checks if c.against == "SentenceTransformer.encode"]
    assert [c.artifact for c in against] == ["pytorch (served pixels)", "text pytorch (served tokens)"]
    assert all(c.passed and c.max_abs_diff < ATOL for c in against)
    vision = tmp_path / "clip-vision"
    vision.mkdir()
    make_clip_vision(vision, clip)
    result = export_into(tmp_path / "repo", str(vision), "clip_vision", formats=("onnx",), release_check=False)
    assert result.task.value == "image-feature-extraction" and result.signature.outputs[0].dims == (16,)
    assert all(c.passed for c in result.report.checks)  # image_embeds against the model on the processor's pixels
