"""Verification images: varied sizes, modes and formats, one with EXIF rotation, generated (no files shipped)."""

from __future__ import annotations

import io

import numpy as np

#: Batches of verification images, as indices into :func:`verification_images`: single images and batches.
IMAGE_BATCHES = ((0,), (3,), (0, 1, 2, 3), (4, 5, 6, 7, 8, 9), tuple(range(10)))


def picture(width: int, height: int, seed: int) -> np.ndarray:
    """A noisy gradient with a bright square (uint8 RGB): resampling filters give different pixels on it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1), (x + y) % 256], axis=-1)
    noisy = base + rng.normal(0, 20, size=base.shape)
    noisy[height // 4:height // 2, width // 3:width // 2] = (250, 30, 30)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def encode(image: object, fmt: str, **options: object) -> bytes:
    """A PIL image encoded as ``fmt`` (``JPEG``, ``PNG`` …)."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def verification_images() -> dict[str, bytes]:
    """Encoded images by name: JPEG, PNG, WebP, BMP, GIF; RGB, RGBA, L, P, CMYK, I;16; EXIF rotation; odd sizes."""
    from PIL import Image

    rgb = Image.fromarray(picture(64, 48, 0))
    tall = Image.fromarray(picture(37, 91, 1))
    wide = Image.fromarray(picture(300, 120, 2))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    alpha = np.linspace(0, 255, 2500).reshape(50, 50).astype(np.uint8)
    rgba = Image.fromarray(np.dstack([picture(50, 50, 3), alpha]))
    gray16 = Image.fromarray(picture(40, 30, 4)[..., 0].astype(np.uint16) * 257)
    return {
        "rgb.jpg": encode(rgb, "JPEG", quality=90),
        "tall.png": encode(tall, "PNG"),
        "wide.webp": encode(wide, "WEBP", quality=80),
        "rotated.jpg": encode(Image.fromarray(picture(80, 40, 5)), "JPEG", exif=exif),
        "rgba.png": encode(rgba, "PNG"),
        "gray.bmp": encode(rgb.convert("L"), "BMP"),
        "palette.gif": encode(wide.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "cmyk.jpg": encode(tall.convert("CMYK"), "JPEG"),
        "gray16.png": encode(gray16, "PNG"),
        "tiny.png": encode(Image.fromarray(picture(5, 3, 6)), "PNG"),
    }
