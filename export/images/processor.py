"""Read a model's image processor into the served step's :class:`ImageParameters`, and check its pixels.

The rules the step knows (fixed size, shortest edge, ConvNeXt's crop_pct; center crop; rescale; normalize)
cover the usual processors; whether they reproduce *this* processor is decided by comparing pixels on the
verification images (:func:`pixel_check`), never by a list of class names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from export.errors import UnsupportedModelError, VerificationError
from tritonize.repo_format.image_preprocessing import (
    CROP_PCT,
    FIXED,
    SHORTEST_EDGE,
    ImageError,
    ImageParameters,
    decode,
    pixels,
)

#: Largest difference allowed between the step's pixels and the processor's (both float32 of the same ops).
PIXEL_ATOL = 1e-5


@dataclass(frozen=True)
class PixelCheck:
    """The step's pixels against the image processor's on the verification images.

    Attributes:
        images: Images compared.
        max_abs_diff: Largest absolute difference over every pixel.
        shape: ``(3, height, width)`` of every image.
    """

    images: int
    max_abs_diff: float
    shape: tuple[int, ...]


def image_parameters(processor: object) -> ImageParameters:
    """The served step's parameters, read from an instantiated transformers image processor.

    Raises:
        UnsupportedModelError: The processor pads, or gives images of varying shapes.
    """
    name = type(processor).__name__

    def attr(key: str, default: object = None) -> object:
        value = getattr(processor, key, None)
        return default if value is None else value

    if attr("do_pad", False):
        raise UnsupportedModelError(f"The image processor {name} pads images: tritonize serves processors that "
                                    f"resize and crop to one shape.")
    size = dict(attr("size", {}) or {})
    crop = dict(attr("crop_size", {}) or {})
    if "height" in size and "width" in size:
        rule = FIXED
    elif "shortest_edge" in size and attr("crop_pct") is not None and not size.get("longest_edge"):
        rule = CROP_PCT
    elif "shortest_edge" in size and not size.get("longest_edge"):
        rule = SHORTEST_EDGE
    else:
        raise UnsupportedModelError(f"The image processor {name} resizes by {sorted(size)}: tritonize serves "
                                    f"a fixed size, a shortest edge or crop_pct.")
    mean, std = attr("image_mean", 0.0), attr("image_std", 1.0)
    parameters = ImageParameters(
        rule=rule, height=int(size.get("height", 0)), width=int(size.get("width", 0)),
        shortest_edge=int(size.get("shortest_edge", 0)), crop_pct=float(attr("crop_pct", 0.0)),
        resample=int(attr("resample", 2)), do_resize=bool(attr("do_resize", True)),
        do_center_crop=bool(attr("do_center_crop", False)), crop_height=int(crop.get("height", 0)),
        crop_width=int(crop.get("width", 0)), do_rescale=bool(attr("do_rescale", True)),
        rescale_factor=float(attr("rescale_factor", 1 / 255)), do_normalize=bool(attr("do_normalize", True)),
        mean=tuple(float(v) for v in (mean if isinstance(mean, (list, tuple)) else [mean] * 3)),
        std=tuple(float(v) for v in (std if isinstance(std, (list, tuple)) else [std] * 3)),
    )
    try:
        parameters.output_size  # noqa: B018 - raises for varying shapes
    except ImageError as error:
        raise UnsupportedModelError(f"The image processor {name}: {error}; the model could not batch.") from error
    return parameters


def reference_pixels(processor: object, data: bytes) -> np.ndarray:
    """The processor's ``pixel_values`` for one encoded image, loaded as the pipeline loads it."""
    import io

    from PIL import Image
    from transformers.image_utils import load_image

    image = load_image(Image.open(io.BytesIO(data)))
    return np.asarray(processor(images=image, return_tensors="np")["pixel_values"][0], dtype=np.float32)


def pixel_check(processor: object, parameters: ImageParameters, images: list[bytes]) -> PixelCheck:
    """Compare the step's pixels with the processor's on ``images``.

    Raises:
        VerificationError: A shape differs or a pixel is off by more than :data:`PIXEL_ATOL`.
    """
    worst, shape = 0.0, ()
    for index, data in enumerate(images):
        want = reference_pixels(processor, data)
        got = pixels(decode(data, parameters.max_pixels), parameters)
        if want.shape != got.shape:
            raise VerificationError(
                f"The image step's pixels have shape {got.shape}, {type(processor).__name__} gives {want.shape} "
                f"(verification image {index}): tritonize does not reproduce this image processor. Nothing was "
                f"written.", None)
        worst, shape = max(worst, float(np.max(np.abs(want - got)))), want.shape
    if worst > PIXEL_ATOL:
        raise VerificationError(
            f"The image step's pixels differ from {type(processor).__name__}'s by up to {worst:.3g} "
            f"(allowed {PIXEL_ATOL:g}): tritonize does not reproduce this image processor. Nothing was written.",
            None)
    return PixelCheck(len(images), worst, tuple(shape))
