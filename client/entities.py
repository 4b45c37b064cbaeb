"""Token-classification answers for people: real tokens only, with character offsets, and the served entities."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from client.results import Label
from tritonize.contract import ENTITIES_OUTPUT, TOKEN_SPANS

OFFSETS, SPECIAL_TOKENS_MASK = (spec.name for spec in TOKEN_SPANS)
#: Outputs the client turns into structure instead of reporting as raw vectors.
STRUCTURE_OUTPUTS = (OFFSETS, SPECIAL_TOKENS_MASK, ENTITIES_OUTPUT.name)


def has_spans(output_names: list[str]) -> bool:
    """The model says where each token lies in its text (token-classification ensembles)."""
    return OFFSETS in output_names and SPECIAL_TOKENS_MASK in output_names


def parse_entities(value: np.ndarray) -> tuple[dict, ...]:
    """One text's ``entities`` item (a JSON array) as the records transformers' pipeline returns."""
    raw = np.asarray(value, dtype=np.object_).reshape(-1)[0]
    return tuple(json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)))


def real_tokens(row: Mapping[str, np.ndarray], outputs: dict[str, np.ndarray],
                token_labels: tuple[tuple[Label, ...], ...]) -> tuple[dict[str, np.ndarray],
                                                                     tuple[tuple[Label, ...], ...],
                                                                     tuple[tuple[int, int], ...]]:
    """Keep one text's real tokens (no special tokens, no padding) in its per-token outputs and labels.

    Args:
        row: The text's arrays of every output, by name (``offsets``, ``special_tokens_mask`` among them).
        outputs: The text's raw outputs to report; per-token ones are cut to real tokens, span tensors dropped.
        token_labels: Classes of every position.

    Returns:
        The outputs, the labels and each kept token's ``(start, end)`` character offsets.
    """
    keep = np.asarray(row[SPECIAL_TOKENS_MASK]).reshape(-1) == 0
    length = keep.shape[0]
    trimmed = {name: np.asarray(value)[keep] if np.ndim(value) >= 1 and np.shape(value)[0] == length else value
               for name, value in outputs.items() if name not in STRUCTURE_OUTPUTS}
    labels = tuple(token for token, kept in zip(token_labels, keep) if kept)
    spans = tuple((int(start), int(end)) for (start, end), kept in zip(np.asarray(row[OFFSETS]), keep) if kept)
    return trimmed, labels, spans
