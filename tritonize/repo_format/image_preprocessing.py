"""Encoded image bytes → the model's ``pixel_values``, as transformers' pipeline and image processor make them.

The owner of the image step's contract: the tensor names, the parameter keys of the preprocessing model's
config, the decode rules and the pixel arithmetic. The exporter reads the model's image processor into
:class:`ImageParameters` and checks these pixels against the processor's; the Python-backend model
(``NAME_preprocess/<version>/model.py``) runs this file, copied beside it as ``tritonize_image.py``, on the
container's Python with numpy and Pillow only.

Decoding follows ``transformers.image_utils.load_image`` (what ``pipeline("image-classification")`` calls):
``PIL.Image.open`` → ``ImageOps.exif_transpose`` → ``convert("RGB")``. The pixels follow the PIL backend of
the image processors (``transformers.image_processing_backends.PilBackend``): Pillow resize of the uint8
image with the processor's filter and size rule, numpy center crop, rescale in float64 then float32,
normalize in float32, channels first.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass, fields

import numpy as np

#: What clients send: one encoded image (JPEG, PNG, WebP, BMP, GIF …) per batch item.
IMAGE_INPUT = "IMAGE"
#: What the preprocessing step gives the model: float32 ``[3, height, width]`` per image.
PIXEL_VALUES = "pixel_values"
#: Pillow's default limit on decoded pixels (``Image.MAX_IMAGE_PIXELS``); larger images are refused, not decoded.
DEFAULT_MAX_PIXELS = 89_478_485

#: Size rules of the image processors.
FIXED = "fixed"  # resize to (height, width)
SHORTEST_EDGE = "shortest_edge"  # resize the shortest edge, keep the aspect ratio
CROP_PCT = "crop_pct"  # ConvNeXt: below 384, shortest edge to size / crop_pct then crop size × size; else warp
RULES = (FIXED, SHORTEST_EDGE, CROP_PCT)

#: Pillow resampling filters by the numbers transformers' ``PILImageResampling`` uses.
RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


class ImageError(ValueError):
    """An item is not an image this step can read (empty, corrupt, too large, an unsupported mode)."""


@dataclass(frozen=True)
class ImageParameters:
    """How one model's image processor turns an RGB image into pixels.

    Attributes:
        rule: Size rule: :data:`FIXED`, :data:`SHORTEST_EDGE` or :data:`CROP_PCT`.
        height: Target height (fixed rule).
        width: Target width (fixed rule).
        shortest_edge: Target shortest edge (shortest-edge and crop-pct rules).
        crop_pct: Share of the resized image kept by the crop-pct rule.
        resample: Pillow filter number.
        do_resize: Resize at all.
        do_center_crop: Center-crop to ``crop_height`` × ``crop_width`` after resizing.
        crop_height: Crop height.
        crop_width: Crop width.
        do_rescale: Multiply by ``rescale_factor``.
        rescale_factor: Usually 1/255.
        do_normalize: Subtract ``mean`` and divide by ``std`` per channel.
        mean: Per-channel mean (RGB order).
        std: Per-channel standard deviation.
        max_pixels: Images with more pixels are refused before decoding (decompression bombs).
    """

    rule: str
    height: int = 0
    width: int = 0
    shortest_edge: int = 0
    crop_pct: float = 0.0
    resample: int = 2
    do_resize: bool = True
    do_center_crop: bool = False
    crop_height: int = 0
    crop_width: int = 0
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    max_pixels: int = DEFAULT_MAX_PIXELS

    @property
    def output_size(self) -> tuple[int, int]:
        """The (height, width) of every preprocessed image.

        Raises:
            ImageError: The rule gives images of different shapes (a shortest edge without a crop).
        """
        if self.do_center_crop:
            return self.crop_height, self.crop_width
        if self.do_resize and self.rule == FIXED:
            return self.height, self.width
        if self.do_resize and self.rule == CROP_PCT:
            return self.shortest_edge, self.shortest_edge
        raise ImageError("the image processor gives images of varying shapes (a shortest edge and no crop)")

    def as_strings(self) -> dict[str, str]:
        """Config parameters (string values) of the preprocessing model."""
        return {f"image_{key}": (",".join(repr(v) for v in value) if isinstance(value, tuple) else repr(value))
                for key, value in asdict(self).items()}

    @classmethod
    def from_strings(cls, parameters: dict[str, str]) -> ImageParameters:
        """Read :meth:`as_strings` back (parameters of other owners are ignored)."""
        values: dict[str, object] = {}
        for field in fields(cls):
            text = parameters.get(f"image_{field.name}")
            if text is None:
                continue
            if field.name in ("mean", "std"):
                values[field.name] = tuple(float(v) for v in text.split(","))
            elif field.name == "rule":
                values[field.name] = text.strip("'\"")
            elif text in ("True", "False"):
                values[field.name] = text == "True"
            elif field.name in ("crop_pct", "rescale_factor"):
                values[field.name] = float(text)
            else:
                values[field.name] = int(text)
        return cls(**values)


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS):  # noqa: ANN201 - PIL.Image.Image, imported lazily
    """One encoded image → an upright RGB ``PIL.Image``, as ``transformers.image_utils.load_image`` loads it.

    Raises:
        ImageError: Empty, not an image, over ``max_pixels`` pixels, corrupt, or a mode RGB cannot come from.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError("empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # the size is checked below, against max_pixels
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError("not an image format Pillow reads") from None
    except Image.DecompressionBombError:
        raise ImageError(f"over the limit of {max_pixels} pixels") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"unreadable image ({_first_line(error)})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"{width}x{height} is over the limit of {max_pixels} pixels")
    if width == 0 or height == 0:
        raise ImageError(f"{width}x{height} has no pixels")
    try:
        image = ImageOps.exif_transpose(image)
        return image.convert("RGB")
    except ValueError as error:
        raise ImageError(f"mode {image.mode} cannot be converted to RGB ({_first_line(error)})") from None
    except (OSError, SyntaxError, EOFError) as error:
        raise ImageError(f"corrupt {image.format or ''} image ({_first_line(error)})".replace("  ", " ")) from None


def resized_size(height: int, width: int, parameters: ImageParameters) -> tuple[int, int]:
    """(height, width) after the resize step, by the processor's size rule."""
    if parameters.rule == FIXED:
        return parameters.height, parameters.width
    edge = parameters.shortest_edge
    if parameters.rule == CROP_PCT:
        if edge >= 384:
            return edge, edge
        edge = int(edge / parameters.crop_pct)
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = edge, int(edge * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Center crop of a ``[C, H, W]`` array, zero-padded when it is smaller (``image_transforms.center_crop``)."""
    orig_height, orig_width = image.shape[-2:]
    top, left = (orig_height - height) // 2, (orig_width - width) // 2
    bottom, right = top + height, left + width
    if top >= 0 and bottom <= orig_height and left >= 0 and right <= orig_width:
        return image[..., top:bottom, left:right]
    new_height, new_width = max(height, orig_height), max(width, orig_width)
    padded = np.zeros_like(image, shape=(*image.shape[:-2], new_height, new_width))
    top_pad, left_pad = -(-(new_height - orig_height) // 2), -(-(new_width - orig_width) // 2)
    padded[..., top_pad:top_pad + orig_height, left_pad:left_pad + orig_width] = image
    top, bottom, left, right = top + top_pad, bottom + top_pad, left + left_pad, right + left_pad
    return padded[..., max(0, top):min(new_height, bottom), max(0, left):min(new_width, right)]


def pixels(image, parameters: ImageParameters) -> np.ndarray:  # noqa: ANN001 - PIL.Image.Image
    """An RGB ``PIL.Image`` → float32 ``[3, height, width]``, as the processor's PIL backend computes it."""
    if parameters.do_resize:
        height, width = resized_size(image.height, image.width, parameters)
        image = image.resize((width, height), resample=parameters.resample)
    array = np.asarray(image).transpose(2, 0, 1)
    if parameters.do_resize and parameters.rule == CROP_PCT and parameters.shortest_edge < 384:
        array = center_crop(array, parameters.shortest_edge, parameters.shortest_edge)
    if parameters.do_center_crop:
        array = center_crop(array, parameters.crop_height, parameters.crop_width)
    if parameters.do_rescale:
        array = (array.astype(np.float64) * parameters.rescale_factor).astype(np.float32)
    if parameters.do_normalize:
        if not np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float32)
        mean = np.array(parameters.mean, dtype=array.dtype)
        std = np.array(parameters.std, dtype=array.dtype)
        array = ((array.T - mean) / std).T
    return np.ascontiguousarray(array, dtype=np.float32)


def preprocess(data: bytes, parameters: ImageParameters) -> np.ndarray:
    """One encoded image → its ``pixel_values`` (float32 ``[3, height, width]``).

    Raises:
        ImageError: The bytes are not an image this step reads (see :func:`decode`).
    """
    return pixels(decode(data, parameters.max_pixels), parameters)


def decode_items(array: np.ndarray) -> list[bytes]:
    """The BYTES tensor of a request (``[batch, 1]``) → one ``bytes`` per item."""
    return [bytes(item) for item in array.reshape(-1)]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
