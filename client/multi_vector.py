"""Multi-vector (ColBERT) embeddings: each text's token vectors, and MaxSim scores for reranking."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from client.connection import RequestedOutput
from client.errors import InputError
from client.metadata import ModelInterface
from tritonize.repo_format import multi_vector
from tritonize.repo_format.names import ModelNames


@dataclass(frozen=True)
class MultiVector:
    """The token vectors of one text, as PyLate's ``encode(is_query=…)`` returns them.

    Attributes:
        index: Position of the text among those given (0-based).
        text: The text.
        vectors: ``[tokens, dim]`` float32, one L2-normalised vector per kept token.
        dense: The dense vector (BGE-M3), else ``None``.
        lexical_weights: Token id (a string) → weight (BGE-M3's sparse output), else ``None``.
    """

    index: int
    text: str
    vectors: np.ndarray
    dense: np.ndarray | None = None
    lexical_weights: dict[str, float] | None = None

    def to_record(self) -> dict[str, object]:
        """A JSON-ready record (vectors as nested lists)."""
        record: dict[str, object] = {"index": self.index, "text": self.text, "tokens": int(len(self.vectors)),
                                     "vectors": self.vectors.tolist()}
        if self.dense is not None:
            record["dense"] = self.dense.tolist()
        if self.lexical_weights is not None:
            record["lexical_weights"] = self.lexical_weights
        return record


def returns_vectors(interface: ModelInterface) -> bool:
    """The model returns packed token vectors: a multi-vector ensemble."""
    names = {spec.name for spec in interface.outputs}
    return {multi_vector.VECTORS_OUTPUT, multi_vector.COUNTS_OUTPUT} <= names


def side(name: str, query: bool, has_query_side: bool = True) -> str:
    """The ensemble for queries (``NAME_query``) or documents (``NAME``) of the export ``name``.

    BGE-M3 encodes queries and documents alike: it has no query side.
    """
    base = name.removesuffix("_query")
    return ModelNames(base).query.ensemble if query and has_query_side else base


def text_inputs(texts: Sequence[str]) -> list[tuple[str, str, np.ndarray]]:
    """The ``TEXT`` tensor of one request.

    Raises:
        InputError: An empty text.
    """
    for position, text in enumerate(texts):
        if not text.strip():
            raise InputError(f"Text {position + 1} is empty")
    return [("TEXT", "BYTES", np.array([text.encode("utf-8") for text in texts], dtype=np.object_).reshape(-1, 1))]


#: BGE-M3's extra outputs: the dense vector and the lexical weights.
DENSE_OUTPUT = "embeddings"


def requested_outputs(interface: ModelInterface) -> list[RequestedOutput]:
    """The packed vectors and counts, and BGE-M3's dense vector and lexical weights where the model has them."""
    names = {spec.name for spec in interface.outputs}
    wanted = (multi_vector.VECTORS_OUTPUT, multi_vector.COUNTS_OUTPUT, DENSE_OUTPUT, multi_vector.LEXICAL_OUTPUT)
    return [RequestedOutput(name) for name in wanted if name in names]


def read_vectors(arrays: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray | None, dict | None]]:
    """Each text's ``[tokens, dim]`` vectors, dense vector and lexical weights (``None`` when absent)."""
    items = np.asarray(arrays[multi_vector.VECTORS_OUTPUT], dtype=object).reshape(-1)
    counts = np.asarray(arrays[multi_vector.COUNTS_OUTPUT]).reshape(-1)
    dense = arrays.get(DENSE_OUTPUT)
    lexical = arrays.get(multi_vector.LEXICAL_OUTPUT)
    lexical = None if lexical is None else np.asarray(lexical, dtype=object).reshape(-1)
    return [(multi_vector.unpack(item, int(count)), None if dense is None else np.asarray(dense[row]),
             None if lexical is None else json.loads(lexical[row]))
            for row, (item, count) in enumerate(zip(items, counts))]


def max_sim_scores(query: np.ndarray, documents: Sequence[np.ndarray]) -> list[float]:
    """ColBERT's MaxSim score of each document for the query."""
    return [multi_vector.max_sim(query, document) for document in documents]
