"""Embedding vectors as the OpenAI API returns them: Matryoshka cuts and base64 encoding."""

from __future__ import annotations

import base64

import numpy as np

#: A served vector whose L2 norm is this close to 1 came from a model that normalises (a ``Normalize`` module).
UNIT_NORM_TOLERANCE = 1e-3


def truncate(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    """The first ``dimensions`` components of each row, renormalised where the model normalised the full vector.

    This is sentence-transformers' ``truncate_dim`` followed by its ``Normalize`` module, as the exporter bakes a
    folder's own ``truncate_dim`` in (``export/postprocess_heads.py``): the served configs record no normalisation
    flag, so the served vector says it — a unit-norm row is renormalised after the cut, any other row is only cut.

    Args:
        vectors: ``[n, width]`` float32 embeddings as served.
        dimensions: The width asked for, ``1 <= dimensions <= width``.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if dimensions >= vectors.shape[-1]:
        return vectors
    cut = vectors[:, :dimensions].copy()
    norms = np.linalg.norm(vectors, axis=-1)
    unit = np.abs(norms - 1.0) <= UNIT_NORM_TOLERANCE
    if unit.any():
        cut_norms = np.linalg.norm(cut[unit], axis=-1, keepdims=True)
        cut[unit] = cut[unit] / np.maximum(cut_norms, np.float32(1e-12))
    return cut


def to_base64(vector: np.ndarray) -> str:
    """Little-endian float32 bytes in base64: what the OpenAI SDK decodes with ``np.frombuffer(..., 'float32')``."""
    return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")


def from_base64(text: str) -> np.ndarray:
    """The float32 vector :func:`to_base64` encoded."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4")
