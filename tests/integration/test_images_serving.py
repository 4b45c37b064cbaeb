"""Image models served from encoded bytes through the real local Triton, over HTTP and gRPC.

Tiny ViT, ConvNeXt and Swin classifiers and ViT / DINOv2 embedding models, built from configs with their image
processors, are exported (the export itself compares the step's pixels with the processor's and PyTorch with
transformers' pipeline) and served together; the answers are compared with ``pipeline("image-classification")``
and ``pipeline("image-feature-extraction", pool=True)`` on the same files. Bad items (empty, text, truncated,
a decompression bomb) are refused by name, the server stays healthy and the batch's other images are answered.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from click.testing import CliRunner
from PIL import Image
from tritonclient.utils import InferenceServerException

from client import ImageClient
from client.cli import cli
from export.images.verification import verification_images
from export.pipeline import ExportResult
from export.settings import (
    DEFAULT_IMAGE_BATCHING,
    DEFAULT_IMAGE_INSTANCE_COUNT,
    DEFAULT_IMAGE_PREPROCESS_INSTANCE_COUNT,
    DEFAULT_IMAGE_THREADS_PER_INSTANCE,
)
from server.local import LocalTriton
from tests.support.exports import export_into
from tests.support.tiny_images import bad_images, make_convnext, make_dinov2, make_swin, make_vit
from tritonize.repo_format.pbtxt import parse

pytestmark = pytest.mark.server

#: Model name → (maker, formats): one TorchScript export, the rest ONNX.
MODELS = {
    "vit_cls": (make_vit, ("onnx",)),
    "convnext_cls": (make_convnext, ("onnx",)),
    "swin_cls": (make_swin, ("torchscript",)),
    "vit_emb": (lambda folder: make_vit(folder, classifier=False), ("onnx",)),
    "dinov2_emb": (make_dinov2, ("onnx",)),
}
CLASSIFIERS = ("vit_cls", "convnext_cls", "swin_cls")
EMBEDDERS = ("vit_emb", "dinov2_emb")
#: Exported with no serving option: the image defaults for CPU (the others get batches of 16 and one instance).
IMAGE_DEFAULTS = "vit_emb"
#: Largest difference of served scores and embeddings from transformers' pipeline.
ATOL = 1e-5


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], dict[str, ExportResult]]:
    root = tmp_path_factory.mktemp("images")
    repository = root / "model_repository"
    folders, results = {}, {}
    for name, (make, formats) in MODELS.items():
        folder = root / name
        folder.mkdir()
        folders[name] = make(folder)
        serving = {"instance_count": None, "batching": None} if name == IMAGE_DEFAULTS else {}
        results[name] = export_into(repository, str(folder), name, formats=formats, release_check=False,
                                    torchscript_release_check=False, load_check=name == "vit_cls", **serving)
    return repository, folders, results


@pytest.fixture(scope="module")
def triton(exported: tuple[Path, dict[str, Path], dict[str, ExportResult]]):
    with LocalTriton(exported[0], ready_timeout=120) as server:
        yield server


@pytest.fixture(scope="module")
def references(exported: tuple[Path, dict[str, Path], dict[str, ExportResult]]) -> dict[str, list[np.ndarray]]:
    """The pipeline's answer per model and test image: scores in label order, or the pooled embedding."""
    from transformers import pipeline

    images = [Image.open(io.BytesIO(data)) for data in verification_images().values()]
    answers = {}
    for name in CLASSIFIERS:
        classify = pipeline("image-classification", model=str(exported[1][name]), device="cpu")
        labels = exported[2][name].labels
        answers[name] = [np.array([{a["label"]: a["score"] for a in classify(image, top_k=len(labels))}[label]
                                   for label in labels]) for image in images]
    for name in EMBEDDERS:
        extract = pipeline("image-feature-extraction", model=str(exported[1][name]), device="cpu")
        answers[name] = [np.asarray(extract(image, pool=True)).reshape(-1) for image in images]
    return answers


def test_exports_check_pixels_pipeline_artifacts_and_the_served_ensemble(
        exported: tuple[Path, dict[str, Path], dict[str, ExportResult]]) -> None:
    repository, _, results = exported
    vit = results["vit_cls"]
    assert vit.pixel_check.max_abs_diff == 0.0 and vit.pixel_check.images == 10
    assert vit.load_check.ran and {c.artifact for c in vit.report.checks} >= {
        "pytorch (served pixels)", "onnx", "served@triton-2.51"}
    assert all(check.passed for result in results.values() for check in result.report.checks)
    ensemble = parse((repository / "vit_cls" / "config.pbtxt").read_text())
    assert [(i.name, i.dims) for i in ensemble.input] == [("IMAGE", [1])]
    assert [s.model_name for s in ensemble.ensemble_scheduling.step] == ["vit_cls_preprocess", "vit_cls_onnx"]
    model = parse((repository / "vit_cls_onnx" / "config.pbtxt").read_text())
    assert [(i.name, list(i.dims)) for i in model.input] == [("pixel_values", [3, 32, 32])]
    assert model.dynamic_batching.max_queue_delay_microseconds >= 0 and model.max_batch_size == 16
    assert (repository / "vit_cls" / "labels.txt").read_text().split() == ["cat", "dog", "bird"]
    assert (repository / "vit_cls_preprocess" / "1" / "tritonize_image.py").is_file()
    assert results["dinov2_emb"].signature.outputs[0].dims == (32,)


def test_image_exports_write_the_image_defaults_unless_given(
        exported: tuple[Path, dict[str, Path], dict[str, ExportResult]]) -> None:
    repository, _, results = exported
    batching = DEFAULT_IMAGE_BATCHING["cpu"]
    for name, instances, max_batch_size in ((IMAGE_DEFAULTS, DEFAULT_IMAGE_INSTANCE_COUNT["cpu"],
                                             batching.max_batch_size), ("vit_cls", 1, 16)):
        ensemble, step, model = (parse((repository / n / "config.pbtxt").read_text())
                                 for n in (name, f"{name}_preprocess", f"{name}_onnx"))
        assert ensemble.max_batch_size == step.max_batch_size == model.max_batch_size == max_batch_size
        assert [g.count for g in model.instance_group] == [instances]
        assert [g.count for g in step.instance_group] == [DEFAULT_IMAGE_PREPROCESS_INSTANCE_COUNT["cpu"]]
        assert model.parameters["intra_op_thread_count"].string_value == \
            str(DEFAULT_IMAGE_THREADS_PER_INSTANCE["cpu"])
    model = parse((repository / f"{IMAGE_DEFAULTS}_onnx" / "config.pbtxt").read_text())
    assert model.dynamic_batching.max_queue_delay_microseconds == batching.max_queue_delay_us
    assert list(model.dynamic_batching.preferred_batch_size) == list(batching.preferred_batch_sizes)
    assert results[IMAGE_DEFAULTS].image_serving.batching == batching
    assert "instance_count" not in results["vit_cls"].image_serving.defaulted


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_served_classifiers_equal_the_pipeline_on_every_test_image(
        triton: LocalTriton, references: dict[str, list[np.ndarray]],
        exported: tuple[Path, dict[str, Path], dict[str, ExportResult]], protocol: str) -> None:
    url = triton.http_url if protocol == "http" else triton.grpc_url
    images = list(verification_images().values())
    with ImageClient(url, protocol) as client:
        assert sorted(client.image_models()) == sorted(MODELS)
        for name in CLASSIFIERS:
            labels = exported[2][name].labels
            predictions = client.predict_images(images, name, batch_size=4)
            assert [p.index for p in predictions] == list(range(len(images)))
            for prediction, want in zip(predictions, references[name]):
                got = {label.label: label.score for label in prediction.labels}
                assert np.max(np.abs(np.array([got[label] for label in labels]) - want)) < ATOL, name
                assert prediction.labels[0].label == labels[int(np.argmax(want))]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_served_image_embeddings_equal_the_pipelines_pooled_output(
        triton: LocalTriton, references: dict[str, list[np.ndarray]], protocol: str) -> None:
    url = triton.http_url if protocol == "http" else triton.grpc_url
    images = list(verification_images().values())
    with ImageClient(url, protocol) as client:
        for name in EMBEDDERS:
            predictions = client.embed_images(images, name)
            worst = max(float(np.max(np.abs(p.outputs["embeddings"] - want)))
                        for p, want in zip(predictions, references[name]))
            assert worst < ATOL, (name, worst)


def test_bad_items_are_refused_by_name_and_the_others_answered(triton: LocalTriton) -> None:
    good = list(verification_images().values())
    bad = bad_images()
    batch = [good[0], *bad.values(), good[1]]
    with ImageClient(triton.http_url) as client:
        predictions = client.predict_images(batch, "vit_cls")
        assert [p.error is None for p in predictions] == [True, False, False, False, False, True]
        reasons = [p.error for p in predictions[1:5]]
        assert "IMAGE[0] of 1: empty (0 bytes)" in reasons[0]
        assert "not an image format Pillow reads" in reasons[1]
        assert "image" in reasons[2] and "over the limit of 89478485 pixels" in reasons[3]
        assert predictions[0].labels and predictions[5].labels
        assert client.health("vit_cls").ok
    http = httpclient.InferenceServerClient(triton.http_url)
    tensor = httpclient.InferInput("IMAGE", [3, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[good[0]], [b""], [good[1]]], dtype=object))
    with pytest.raises(InferenceServerException) as refused:
        http.infer("vit_cls", [tensor])
    assert refused.value.status() == "400" and "IMAGE[1] of 3: empty (0 bytes)" in refused.value.message()
    grpc = grpcclient.InferenceServerClient(triton.grpc_url)
    tensor = grpcclient.InferInput("IMAGE", [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[bad["notes.txt"]]], dtype=object))
    with pytest.raises(InferenceServerException) as refused:
        grpc.infer("vit_cls", [tensor])
    assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert http.is_server_live() and http.is_model_ready("vit_cls_preprocess")


def test_cli_predict_image_files_directories_and_stdin(triton: LocalTriton, tmp_path: Path) -> None:
    images = verification_images()
    folder = tmp_path / "images"
    folder.mkdir()
    for name, data in images.items():
        (folder / name).write_bytes(data)
    runner = CliRunner()
    args = ["--url", triton.http_url, "predict", "--image", "--model", "vit_cls"]
    result = runner.invoke(cli, [*args, "--jsonl", str(folder / "rgb.jpg"), str(folder), "-"],
                           input=images["tall.png"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert len(records) == 12 and records[-1]["text"] == "-" and records[0]["labels"][0]["label"] in {
        "cat", "dog", "bird"}
    assert records[-1]["labels"] == records[1 + sorted(images).index("tall.png")]["labels"]
    (folder / "broken.jpg").write_bytes(bad_images()["truncated.jpg"])
    result = runner.invoke(cli, [*args, str(folder / "broken.jpg"), str(folder / "rgb.jpg")])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].split() == ["#", "IMAGE", "RESULT"] and "error: in ensemble 'vit_cls', IMAGE[0] of 1: " in lines[1]
    assert "cat" in lines[2] or "dog" in lines[2] or "bird" in lines[2]
    assert lines[-1].startswith("Error: 1 of 2 images could not be read by the server")


def test_client_bench_sends_real_images(triton: LocalTriton, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for name, data in verification_images().items():
        (folder / name).write_bytes(data)
    args = ["--url", triton.grpc_url, "--protocol", "grpc", "bench", "vit_cls", "-c", "1",
            "--measurement-interval", "500", "--stability-percentage", "90", "--max-trials", "4",
            "--output-dir", str(tmp_path / "bench"), "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--images", str(folder)])
    assert result.exit_code == 0, result.output
    summary = json.loads((Path(result.output.strip().splitlines()[-1]) / "summary.json").read_text())
    level = summary["results"][0]
    assert level["throughput"] > 0
    assert [s["model"] for s in level["stages"]] == ["vit_cls_preprocess", "vit_cls_onnx"]
    assert all(s["requests"] > 0 for s in level["stages"])  # every image decoded: none refused
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "Model 'vit_cls' takes images: pass --images PATH" in result.output


def test_a_text_task_on_an_image_model_is_refused_in_one_line(
        exported: tuple[Path, dict[str, Path], dict[str, ExportResult]], tmp_path: Path) -> None:
    from export.cli import main

    result = CliRunner().invoke(main, [str(exported[1]["vit_cls"]), "--repository", str(tmp_path / "repo"),
                                       "--task", "feature-extraction", "--quiet"])
    assert result.exit_code == 1 and not (tmp_path / "repo").exists()
    assert result.output == ("Error: 'ViTForImageClassification' is an image model: its task is "
                             "image-classification (leave --task out).\n")
