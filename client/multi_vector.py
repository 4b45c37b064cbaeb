"""Multi-vector (ColBERT) embeddings: each text's token vectors, and MaxSim scores for reranking."""

from __future__ import annotations

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
    """

    index: int
    text: str
    vectors: np.ndarray

    def to_record(self) -> dict[str, object]:
        """A JSON-ready record (vectors as nested lists)."""
        return {"index": self.index, "text": self.text, "tokens": int(len(self.vectors)),
                "vectors": self.vectors.tolist()}


def returns_vectors(interface: ModelInterface) -> bool:
    """The model returns packed token vectors: a multi-vector ensemble."""
    names = {spec.name for spec in interface.outputs}
    return {multi_vector.VECTORS_OUTPUT, multi_vector.COUNTS_OUTPUT} <= names


def side(name: str, query: bool) -> str:
    """The ensemble for queries (``NAME_query``) or documents (``NAME``) of the export ``name``."""
    base = name.removesuffix("_query")
    return ModelNames(base).query.ensemble if query else base


def text_inputs(texts: Sequence[str]) -> list[tuple[str, str, np.ndarray]]:
    """The ``TEXT`` tensor of one request.

    Raises:
        InputError: An empty text.
    """
    for position, text in enumerate(texts):
        if not text.strip():
            raise InputError(f"Text {position + 1} is empty")
    return [("TEXT", "BYTES", np.array([text.encode("utf-8") for text in texts], dtype=np.object_).reshape(-1, 1))]


OUTPUTS = [RequestedOutput(multi_vector.VECTORS_OUTPUT), RequestedOutput(multi_vector.COUNTS_OUTPUT)]


def read_vectors(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Each text's ``[tokens, dim]`` vectors from one answer."""
    items = np.asarray(arrays[multi_vector.VECTORS_OUTPUT], dtype=object).reshape(-1)
    counts = np.asarray(arrays[multi_vector.COUNTS_OUTPUT]).reshape(-1)
    return [multi_vector.unpack(item, int(count)) for item, count in zip(items, counts)]


def max_sim_scores(query: np.ndarray, documents: Sequence[np.ndarray]) -> list[float]:
    """ColBERT's MaxSim score of each document for the query."""
    return [multi_vector.max_sim(query, document) for document in documents]
