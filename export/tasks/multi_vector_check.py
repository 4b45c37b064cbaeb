"""The load check of a multi-vector export: the ensemble's packed vectors against PyTorch's, position by position.

The served ensemble returns each document's kept vectors packed (:mod:`tritonize.repo_format.multi_vector`);
both sides are laid out as ``[batch, positions, dim]`` with the vectors that are not kept set to zero, so the
ordinary comparison (:func:`export.verify.compare`) applies. A vector kept on one side only shows as a difference.
"""

from __future__ import annotations

import numpy as np

from export.load_model import LoadedModel
from tritonize.contract import MULTI_VECTOR_OUTPUTS, Signature
from tritonize.repo_format import multi_vector

#: The BGE-M3 dense vector, compared as it is.
DENSE = "embeddings"


def document_rule(loaded: LoadedModel) -> tuple[str, frozenset[int]]:
    """Which document positions the vectors step keeps, and the skip-list token ids (PyLate's conversion)."""
    if loaded.info.m3:
        return multi_vector.KEEP_AFTER_FIRST, frozenset()
    words = loaded.info.colbert.skiplist_words
    return multi_vector.KEEP_ATTENDED, frozenset(int(loaded.tokenizer.convert_tokens_to_ids(w)) for w in words)


def checked_signature(signature: Signature) -> Signature:
    """The outputs the load check compares: the token vectors, and BGE-M3's dense vector."""
    kept = tuple(spec for spec in signature.outputs if spec.name in (DENSE, multi_vector.TOKEN_VECTORS))
    return Signature(signature.task, signature.inputs, kept)


def requested(signature: Signature) -> list[str]:
    """The ensemble outputs to ask for."""
    dense = [DENSE] if any(spec.name == DENSE for spec in signature.outputs) else []
    return [*dense, *(spec.name for spec in MULTI_VECTOR_OUTPUTS)]


def expected_view(signature: Signature, batch: dict[str, np.ndarray], outputs: list[np.ndarray],
                  rule: tuple[str, frozenset[int]]) -> list[np.ndarray]:
    """PyTorch's outputs on ``batch`` as the check compares them: vectors not kept set to zero."""
    named = dict(zip(signature.output_names, outputs))
    vectors = np.array(named[multi_vector.TOKEN_VECTORS], dtype=np.float32, copy=True)
    for row in range(vectors.shape[0]):
        vectors[row][~_kept(batch, row, rule)] = 0.0
    dense = [named[DENSE]] if DENSE in named else []
    return [*dense, vectors]


def served_view(signature: Signature, batch: dict[str, np.ndarray], served: list[np.ndarray],
                rule: tuple[str, frozenset[int]]) -> list[np.ndarray]:
    """The ensemble's answer (outputs in :func:`requested` order) laid out as :func:`expected_view` lays PyTorch's."""
    named = dict(zip(requested(signature), served))
    width = signature.output(multi_vector.TOKEN_VECTORS).dims[-1]
    ids = batch["input_ids"]
    positions = ids.shape[1] - (1 if rule[0] == multi_vector.KEEP_AFTER_FIRST else 0)
    vectors = np.zeros((ids.shape[0], positions, width), dtype=np.float32)
    items = np.asarray(named[multi_vector.VECTORS_OUTPUT], dtype=object).reshape(-1)
    counts = np.asarray(named[multi_vector.COUNTS_OUTPUT]).reshape(-1)
    for row, (item, count) in enumerate(zip(items, counts)):
        kept = _kept(batch, row, rule)
        unpacked = multi_vector.unpack(item, int(count))
        if len(unpacked) != int(kept.sum()):
            vectors[row] = np.nan  # another number of vectors: fails the comparison
            continue
        vectors[row][kept] = unpacked
    dense = [np.asarray(named[DENSE])] if DENSE in named else []
    return [*dense, vectors]


def _kept(batch: dict[str, np.ndarray], row: int, rule: tuple[str, frozenset[int]]) -> np.ndarray:
    return multi_vector.kept_positions(batch["input_ids"][row], batch["attention_mask"][row], rule[0], rule[1])
