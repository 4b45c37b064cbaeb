"""Image inputs: files, directories (their image files, sorted) and stdin, read as encoded bytes.

The bytes go to the server as they are: decoding, EXIF orientation and the model's preprocessing run in the
ensemble's preprocessing step, so what a client sends is what transformers' pipeline would read from the file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from client.errors import InputError
from tritonize.repo_format.image_preprocessing import IMAGE_INPUT

#: File name suffixes taken from a directory (files named one by one are sent whatever their suffix).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
#: The name of the image read from standard input.
STDIN = "-"


@dataclass(frozen=True)
class ImageInput:
    """One encoded image and where it came from.

    Attributes:
        name: Its path as given (``-`` for stdin), shown in results and error messages.
        data: The encoded bytes (JPEG, PNG, WebP, BMP, GIF …), unchanged.
    """

    name: str
    data: bytes


def read_images(arguments: Sequence[str | Path], stdin: BinaryIO | None = None) -> list[ImageInput]:
    """Files, directories (their image files by suffix, sorted, not recursive) and ``-`` (stdin), in order.

    ``stdin`` is the binary stream ``-`` reads (default: the process's standard input).

    Raises:
        InputError: Nothing given, a path that does not exist, or a directory without image files.
    """
    if not arguments:
        raise InputError("No images given: name files, directories or - for stdin")
    found: list[ImageInput] = []
    for argument in arguments:
        if str(argument) == STDIN:
            found.append(ImageInput(STDIN, (stdin or sys.stdin.buffer).read()))
            continue
        path = Path(argument)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise InputError(f"{path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            found += [ImageInput(str(p), p.read_bytes()) for p in files]
        elif path.is_file():
            found.append(ImageInput(str(path), path.read_bytes()))
        else:
            raise InputError(f"{path} is neither a file nor a directory")
    return found


def image_tensor(images: Sequence[ImageInput]) -> tuple[str, str, np.ndarray]:
    """The ensemble's ``IMAGE`` input for one request: BYTES ``[n, 1]``."""
    array = np.empty((len(images), 1), dtype=np.object_)
    for row, image in enumerate(images):
        array[row, 0] = image.data
    return IMAGE_INPUT, "BYTES", array
