"""The image step's pure logic: decoding as transformers' load_image, pixels equal to the image processors'.

No server: the pixels of :mod:`tritonize.repo_format.image_preprocessing` against each tiny model's own image
processor (PIL backend) on the generated images (JPEG/PNG/WebP/BMP/GIF; RGB, RGBA, L, P, CMYK, I;16; EXIF
rotation; 5×3 to 300×120), and the refusals of items that are not images.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from client.images import read_images
from export.errors import UnsupportedModelError
from export.images.detection import image_model
from export.images.processor import image_parameters, pixel_check, reference_pixels
from export.images.verification import verification_images
from export.signature import Task
from tests.support.tiny_images import bad_images, make_convnext, make_dinov2, make_swin, make_vit
from tritonize.repo_format.image_preprocessing import (
    CROP_PCT,
    FIXED,
    SHORTEST_EDGE,
    ImageError,
    ImageParameters,
    center_crop,
    decode,
    preprocess,
    resized_size,
)

MAKERS = {"vit": make_vit, "convnext": make_convnext, "swin": make_swin, "dinov2": make_dinov2}


@pytest.fixture(scope="module")
def processors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from transformers import AutoImageProcessor

    found = {}
    for name, make in MAKERS.items():
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        found[name] = AutoImageProcessor.from_pretrained(str(folder))
    return found


@pytest.mark.parametrize("name,rule", [("vit", FIXED), ("convnext", CROP_PCT), ("swin", FIXED),
                                       ("dinov2", SHORTEST_EDGE)])
def test_pixels_equal_the_processors_on_every_test_image(processors: dict[str, object], name: str,
                                                         rule: str) -> None:
    processor = processors[name]
    parameters = image_parameters(processor)
    assert parameters.rule == rule
    images = verification_images()
    check = pixel_check(processor, parameters, list(images.values()))
    assert check.images == len(images) == 10 and check.max_abs_diff == 0.0
    for data in images.values():  # one shape for every image: the model batches them
        assert preprocess(data, parameters).shape == (3, *parameters.output_size) == check.shape


def test_parameters_survive_the_config_round_trip(processors: dict[str, object]) -> None:
    for processor in processors.values():
        parameters = image_parameters(processor)
        strings = parameters.as_strings()
        assert all(key.startswith("image_") and isinstance(value, str) for key, value in strings.items())
        assert ImageParameters.from_strings({**strings, "other_owner": "x"}) == parameters


def test_decoding_follows_load_image_exif_and_modes() -> None:
    from transformers.image_utils import load_image

    for name, data in verification_images().items():
        want = np.asarray(load_image(Image.open(io.BytesIO(data))))
        got = np.asarray(decode(data))
        assert got.shape == want.shape and np.array_equal(got, want), name
    rotated = decode(verification_images()["rotated.jpg"])
    assert rotated.size == (40, 80)  # stored 80×40, EXIF orientation 6: shown upright as 40 wide, 80 high


@pytest.mark.parametrize("name,reason", [("empty.jpg", "empty (0 bytes)"),
                                         ("notes.txt", "not an image format Pillow reads"),
                                         ("truncated.jpg", "image"),
                                         ("bomb.png", "over the limit of 89478485 pixels")])
def test_items_that_are_not_readable_images_raise_image_error(name: str, reason: str) -> None:
    with pytest.raises(ImageError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        preprocess(bad_images()[name], ImageParameters(FIXED, height=8, width=8))


def test_a_lower_pixel_limit_refuses_before_decoding() -> None:
    data = verification_images()["wide.webp"]  # 300×120
    with pytest.raises(ImageError, match="300x120 is over the limit of 1000 pixels"):
        decode(data, max_pixels=1000)


def test_size_rules_and_center_crop_follow_transformers() -> None:
    from transformers.image_transforms import center_crop as hf_center_crop
    from transformers.image_transforms import get_resize_output_image_size

    shortest = ImageParameters(SHORTEST_EDGE, shortest_edge=32)
    for height, width in ((91, 37), (48, 64), (32, 32), (3, 500)):
        want = get_resize_output_image_size(np.zeros((3, height, width)), 32, default_to_square=False,
                                            input_data_format="channels_first")
        assert resized_size(height, width, shortest) == tuple(want)
    assert resized_size(48, 64, ImageParameters(CROP_PCT, shortest_edge=40, crop_pct=0.875)) == (45, 60)
    assert resized_size(48, 64, ImageParameters(CROP_PCT, shortest_edge=384, crop_pct=0.875)) == (384, 384)
    array = np.arange(2 * 5 * 7, dtype=np.uint8).reshape(2, 5, 7)
    for size in ((3, 3), (8, 4), (5, 9), (2, 7)):
        want = hf_center_crop(array, size, input_data_format="channels_first")
        assert np.array_equal(center_crop(array, *size), want), size


def test_processors_that_would_not_batch_are_refused() -> None:
    from transformers import BitImageProcessor

    with pytest.raises(UnsupportedModelError, match="varying shapes"):
        image_parameters(BitImageProcessor(size={"shortest_edge": 32}, do_center_crop=False))


def test_reference_pixels_are_the_processors_output(processors: dict[str, object]) -> None:
    data = verification_images()["rgb.jpg"]
    assert reference_pixels(processors["vit"], data).shape == (3, 32, 32)


def test_image_models_are_detected_from_config_json() -> None:
    assert image_model({"model_type": "vit", "architectures": ["ViTForImageClassification"],
                        "id2label": {"0": "a", "1": "b"}}).task is Task.IMAGE_CLASSIFICATION
    assert image_model({"model_type": "dinov2", "architectures": ["Dinov2Model"]}).task \
        is Task.IMAGE_FEATURE_EXTRACTION
    assert image_model({"model_type": "clip_vision_model", "architectures": ["CLIPVisionModelWithProjection"]}).task \
        is Task.IMAGE_FEATURE_EXTRACTION
    assert image_model({"model_type": "bert", "architectures": ["BertModel"]}) is None
    assert image_model({"model_type": "detr", "architectures": ["DetrForObjectDetection"]}) is None


def test_client_reads_files_directories_and_stdin(tmp_path: Path) -> None:
    images = verification_images()
    for name, data in images.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "notes.txt").write_text("not taken from a directory")
    read = read_images([tmp_path / "rgb.jpg", tmp_path, "-"], stdin=io.BytesIO(b"stdin bytes"))
    assert [i.name for i in read][:1] == [str(tmp_path / "rgb.jpg")]
    assert [Path(i.name).name for i in read[1:-1]] == sorted(images)
    assert read[-1].name == "-" and read[-1].data == b"stdin bytes"


def test_the_image_steps_files_import_only_what_the_triton_image_has() -> None:
    """model.py and tritonize_image.py run on the container's Python 3.10 with numpy and Pillow (docker/)."""
    import ast
    import sys

    from export.python_models import image_model
    from tritonize.repo_format import image_preprocessing
    from tritonize.repo_format.files import IMAGE_PREPROCESSING_FILENAME

    pins = {line.split("==")[0].strip().lower() for line in
            (Path(__file__).parents[2] / "docker" / "requirements.txt").read_text().splitlines()
            if "==" in line and not line.lstrip().startswith("#")}
    assert "pillow" in pins and "numpy" in pins
    allowed = set(sys.stdlib_module_names) | {"numpy", "PIL", "triton_python_backend_utils",
                                              Path(IMAGE_PREPROCESSING_FILENAME).stem, "__future__"}
    for module in (image_model, image_preprocessing):
        tree = ast.parse(Path(module.__file__).read_text(), feature_version=(3, 10))
        fallbacks = [handler for node in ast.walk(tree) if isinstance(node, ast.Try) for handler in node.handlers
                     if isinstance(handler.type, ast.Name) and handler.type.id == "ImportError"]
        fallback_imports = {id(inner) for handler in fallbacks for statement in handler.body
                            for inner in ast.walk(statement)}  # imports used only from the source tree
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    and id(node) not in fallback_imports for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     and node.level == 0 and id(node) not in fallback_imports}
        assert imported - allowed == set(), module.__name__


def test_zero_shot_scores_follow_clip_and_siglip_formulas() -> None:
    import torch

    from tritonize.repo_format.zero_shot import SIGMOID, SOFTMAX, ZeroShot, zero_shot_scores

    rng = np.random.default_rng(0)
    images, texts = rng.normal(size=(3, 8)).astype(np.float32), rng.normal(size=(4, 8)).astype(np.float32)
    a = torch.from_numpy(images) / torch.from_numpy(images).norm(dim=-1, keepdim=True)
    b = torch.from_numpy(texts) / torch.from_numpy(texts).norm(dim=-1, keepdim=True)
    logits = a @ b.T * 100.0 - 2.0
    clip = ZeroShot("m_text", 100.0, -2.0, SOFTMAX)
    siglip = ZeroShot("m_text", 100.0, -2.0, SIGMOID, template="a photo of {}")
    assert np.allclose(zero_shot_scores(images, texts, clip), logits.softmax(-1).numpy(), atol=1e-6)
    assert np.allclose(zero_shot_scores(images, texts, siglip), torch.sigmoid(logits).numpy(), atol=1e-6)
    for settings in (clip, siglip):
        assert ZeroShot.from_strings({**settings.as_strings(), "image_rule": "fixed"}) == settings
    assert ZeroShot.from_strings({"image_rule": "fixed"}) is None  # an image ensemble without a text tower
