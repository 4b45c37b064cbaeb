"""Multi-vector (ColBERT) embeddings on the wire: which token vectors are kept, and how each text's travel.

The model returns one L2-normalised vector per token position, padded to the batch's longest text. The vectors
step keeps the positions the reference keeps (PyLate's ``encode``: every position of a query, expansion
``[MASK]`` tokens included; for documents the attended tokens that are not skip-list punctuation) and sends
each text's kept vectors as one BYTES item: float32, little-endian, row after row, with their count in
``token_counts``. Nothing is padded on the wire, so a client has nothing to strip: ``numpy.frombuffer`` and a
reshape to ``[count, dim]``. Imports numpy only and parses on Python 3.10: the exporter copies this file beside
the vectors step's ``model.py`` (as ``tritonize_multi_vector.py``), and the client imports it.
"""

from __future__ import annotations

import numpy as np

#: The model's per-token output, and the vectors step's outputs (also the ensemble's).
TOKEN_VECTORS = "token_vectors"
VECTORS_OUTPUT = "vectors"
COUNTS_OUTPUT = "token_counts"
#: BGE-M3: the model's per-token weights in, each text's lexical weights out (JSON: token id → weight).
TOKEN_WEIGHTS = "token_weights"
LEXICAL_OUTPUT = "lexical_weights"
#: Config parameters of the vectors step: which positions to keep, the skip-list token ids, and (BGE-M3) the
#: token ids lexical weights leave out (FlagEmbedding's cls, eos, pad and unk).
KEEP_KEY = "keep"
SKIPLIST_KEY = "skiplist_ids"
UNUSED_KEY = "unused_ids"
#: ``keep`` values: every position (queries with expansion), or attended non-skip-list tokens (documents).
KEEP_ALL = "all"
KEEP_ATTENDED = "attended"
#: BGE-M3's ColBERT vectors: the model returns positions after ``[CLS]``; the attended ones are kept.
KEEP_AFTER_FIRST = "after_first"
#: How vectors are written: float32, little-endian.
WIRE_DTYPE = np.dtype("<f4")


def kept_positions(input_ids: np.ndarray, attention_mask: np.ndarray, keep: str,
                   skiplist: frozenset[int] = frozenset()) -> np.ndarray:
    """Boolean mask ``[seq]`` of one text's positions whose vectors are returned."""
    if keep == KEEP_ALL:
        return np.ones(len(input_ids), dtype=bool)
    if keep == KEEP_AFTER_FIRST:
        return np.asarray(attention_mask)[1:].astype(bool)
    mask = np.asarray(attention_mask).astype(bool)
    if skiplist:
        mask &= ~np.isin(np.asarray(input_ids), list(skiplist))
    return mask


def lexical_weights(input_ids: np.ndarray, weights: np.ndarray, unused: frozenset[int]) -> dict[str, float]:
    """One text's lexical weights as FlagEmbedding's BGE-M3 returns them: token id (a string) → its highest weight.

    Tokens in ``unused`` and weights of 0 are left out; ids appear in order of first occurrence.
    """
    found: dict[str, float] = {}
    for token, weight in zip(np.asarray(input_ids).tolist(), np.asarray(weights, dtype=np.float32).tolist()):
        if token not in unused and weight > 0 and weight > found.get(str(token), 0.0):
            found[str(token)] = weight
    return found


def pack(vectors: np.ndarray) -> bytes:
    """One text's vectors ``[count, dim]`` as wire bytes."""
    return np.ascontiguousarray(vectors, dtype=WIRE_DTYPE).tobytes()


def unpack(item: bytes, count: int) -> np.ndarray:
    """One text's vectors ``[count, dim]`` from its wire bytes and token count."""
    flat = np.frombuffer(item, dtype=WIRE_DTYPE)
    return flat.reshape(count, -1) if count else flat.reshape(0, 0)


def max_sim(query: np.ndarray, document: np.ndarray) -> float:
    """ColBERT's late-interaction score: for each query vector its best dot product over the document, summed."""
    if not len(query) or not len(document):
        return 0.0
    return float((np.asarray(query, np.float32) @ np.asarray(document, np.float32).T).max(axis=1).sum())
