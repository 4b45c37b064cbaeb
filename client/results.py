"""Predictions: one per input text, with raw output vectors and labels from Triton's classification extension."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Label:
    """One class with its score, as Triton's classification extension reports it.

    Attributes:
        label: The class name from the model's label file (the index as text when the file has none for it).
        score: The output's value for this class.
        index: Position of the class in the output vector.
    """

    label: str
    score: float
    index: int


@dataclass(frozen=True)
class Prediction:
    """What the model returned for one text.

    Attributes:
        index: Position of the text in the input (0-based).
        text: The text sent.
        outputs: Raw output vectors of this text, by output name (labelled score outputs are in ``labels``).
        labels: Top classes, best first (sentence classification).
        token_labels: Top classes of each token, best first (token classification): real tokens only when the
            model gives token offsets (special tokens and padding dropped), else every position.
        token_offsets: ``(start, end)`` character offsets of each token of ``token_labels`` in ``text``.
        entities: Entities as transformers' token-classification pipeline returns them (``entity_group``,
            ``score``, ``word``, ``start``, ``end``), when the model groups them; ``None`` for other models.
        error: Why the server refused this item alone (an image it cannot read); ``None`` when answered.
    """

    index: int
    text: str
    outputs: Mapping[str, np.ndarray] = field(default_factory=dict)
    labels: tuple[Label, ...] = ()
    token_labels: tuple[tuple[Label, ...], ...] = ()
    token_offsets: tuple[tuple[int, int], ...] = ()
    entities: tuple[dict, ...] | None = None
    error: str | None = None

    def to_record(self, arrays: bool = False) -> dict[str, object]:
        """A JSON-ready record with full vectors (numeric outputs as numpy arrays with ``arrays``, for orjson)."""
        record: dict[str, object] = {"index": self.index, "text": self.text}
        if self.labels:
            record["labels"] = [_label_record(label) for label in self.labels]
        if self.token_labels:
            record["token_labels"] = [[_label_record(label) for label in token] for token in self.token_labels]
        if self.token_offsets:
            record["token_offsets"] = [list(span) for span in self.token_offsets]
        if self.entities is not None:
            record["entities"] = list(self.entities)
        record["outputs"] = {name: _plain(array, arrays) for name, array in self.outputs.items()}
        if self.error is not None:
            record["error"] = self.error
        return record


def parse_classes(entries: np.ndarray) -> list[Label]:
    """Decode one item's ``"score:index:label"`` strings (``"score:index"`` when no label exists for it)."""
    labels = []
    for entry in np.asarray(entries).reshape(-1):
        text = entry.decode("utf-8") if isinstance(entry, bytes) else str(entry)
        score, index, *name = text.split(":", 2)
        labels.append(Label(label=name[0] if name else index, score=float(score), index=int(index)))
    return labels


def split_token_classes(labels: list[Label], num_labels: int, top_k: int) -> tuple[tuple[Label, ...], ...]:
    """Regroup the classes of a ``[tokens, num_labels]`` output, which Triton ranks as one flat vector.

    Every element must be present (the request asks for all of them): flat index ``i`` is token
    ``i // num_labels``, class ``i % num_labels``; the label file names only flat indices below ``num_labels``,
    i.e. the first token's classes, which gives the names of all classes.

    Args:
        labels: All elements of one item, best first, as :func:`parse_classes` returns them.
        num_labels: Size of the output's last dimension.
        top_k: Classes to keep per token.
    """
    names = {label.index: label.label for label in labels if label.index < num_labels}
    tokens: list[list[Label]] = [[] for _ in range(-(-len(labels) // num_labels))]
    for label in labels:  # Already sorted by score, so each token's list is too.
        token, index = divmod(label.index, num_labels)
        if len(tokens[token]) < top_k:
            tokens[token].append(Label(label=names.get(index, str(index)), score=label.score, index=index))
    return tuple(tuple(token) for token in tokens)


def _plain(array: np.ndarray, arrays: bool = False) -> object:
    """Nested lists of numbers (the array itself with ``arrays``), or of strings for BYTES tensors."""
    values = np.asarray(array)
    if arrays and values.dtype != np.object_:
        return np.ascontiguousarray(values)
    if values.dtype == np.object_:
        decoded = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in values.reshape(-1)]
        values = np.array(decoded, dtype=np.object_).reshape(values.shape)
    return values.tolist()


def _label_record(label: Label) -> dict[str, object]:
    return {"label": label.label, "score": label.score, "index": label.index}
