"""Sparse (SPLADE) embeddings from the served (index, weight, token) triples of each text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from client.errors import UnsupportedModel
from client.metadata import ModelInterface, base_name

INDICES, WEIGHTS, TOKENS = "indices", "weights", "tokens"


@dataclass(frozen=True)
class SparseTerm:
    """One non-zero dimension of a sparse embedding.

    Attributes:
        token: The vocabulary token of the dimension.
        index: The dimension (the token's id).
        weight: Its weight.
    """

    token: str
    index: int
    weight: float


@dataclass(frozen=True)
class SparseEmbedding:
    """The non-zero weights of one text, highest first.

    Attributes:
        index: Position of the text in the input (0-based).
        text: The text.
        terms: Its non-zero dimensions, highest weight first.
    """

    index: int
    text: str
    terms: tuple[SparseTerm, ...]

    def as_dict(self) -> dict[int, float]:
        """``{index: weight}`` of the non-zero dimensions."""
        return {term.index: term.weight for term in self.terms}

    def to_record(self) -> dict[str, object]:
        """A JSON-ready record."""
        return {"index": self.index, "text": self.text,
                "terms": [{"token": t.token, "index": t.index, "weight": t.weight} for t in self.terms]}


def is_sparse(interface: ModelInterface) -> bool:
    """The model returns (index, weight) pairs per text."""
    kinds = {base_name(spec.name): spec.dtype for spec in interface.outputs}
    return kinds.get(INDICES) in (mc.TYPE_INT64, mc.TYPE_INT32) and kinds.get(WEIGHTS) == mc.TYPE_FP32


def check_sparse(interface: ModelInterface) -> None:
    """Raise :class:`UnsupportedModel` unless the model returns sparse embeddings."""
    if not is_sparse(interface):
        outputs = ", ".join(f"{t.name} ({t.triton_dtype} {list(t.dims)})" for t in interface.outputs) or "none"
        raise UnsupportedModel(f"Model '{interface.name}' does not return sparse embeddings (its outputs: {outputs}); "
                               "export a SPLADE masked-LM model with --task sparse-embedding")


def terms(outputs: Mapping[str, np.ndarray]) -> tuple[SparseTerm, ...] | None:
    """The non-zero terms in one text's outputs, or ``None`` when they are not a sparse embedding's."""
    named = {base_name(name): value for name, value in outputs.items()}
    if INDICES not in named or WEIGHTS not in named:
        return None
    tokens = named.get(TOKENS)
    found = []
    for position, (index, weight) in enumerate(zip(np.asarray(named[INDICES]).reshape(-1),
                                                   np.asarray(named[WEIGHTS]).reshape(-1))):
        if index < 0 or weight <= 0:
            continue
        token = tokens.reshape(-1)[position] if tokens is not None else b""
        token = token.decode("utf-8") if isinstance(token, bytes) else str(token)
        found.append(SparseTerm(token or str(int(index)), int(index), float(weight)))
    return tuple(found)
