"""Rerank documents for a query with a cross-encoder ensemble: (query, passage) pairs in, one score per pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from client.connection import RequestedOutput
from client.errors import InputError, UnsupportedModel
from client.metadata import ModelInterface
from client.results import Label, Prediction, parse_classes
from tritonize.contract import PAIR_INPUTS, TensorSpec

#: The output holding each pair's scores.
SCORES_OUTPUT = "scores"


@dataclass(frozen=True)
class RankedDocument:
    """One document with its relevance to the query.

    Attributes:
        index: Position of the document among those given (0-based).
        document: The document.
        score: Its relevance score (the chosen label's probability for pair classifiers).
        labels: Every label's score, best first (pair classifiers with several labels).
    """

    index: int
    document: str
    score: float
    labels: tuple[Label, ...] = ()

    def to_record(self) -> dict[str, object]:
        """A JSON-ready record."""
        record: dict[str, object] = {"index": self.index, "document": self.document, "score": self.score}
        if self.labels:
            record["labels"] = [{"label": x.label, "score": x.score, "index": x.index} for x in self.labels]
        return record


def takes_pairs(interface: ModelInterface) -> bool:
    """The model takes a query and a passage per item and returns ``scores``: a reranker."""
    names = tuple(spec.name for spec in interface.inputs)
    return (names == tuple(spec.name for spec in PAIR_INPUTS)
            and all(spec.dtype == mc.TYPE_STRING for spec in interface.inputs)
            and any(spec.name == SCORES_OUTPUT for spec in interface.outputs))


def is_pair_ensemble(interface: ModelInterface) -> bool:
    """An ensemble (or one-step model) that reranks: what ``rerank`` picks when no model is named."""
    return interface.is_entry_model and takes_pairs(interface)


def check_reranker(interface: ModelInterface) -> None:
    """Raise :class:`UnsupportedModel` unless the model scores (query, passage) pairs."""
    if not takes_pairs(interface):
        inputs = ", ".join(f"{t.name} ({t.triton_dtype})" for t in interface.inputs) or "none"
        if [t.name for t in interface.inputs] == [t.name for t in PAIR_INPUTS]:
            raise UnsupportedModel(f"Model '{interface.name}' takes pairs but returns no '{SCORES_OUTPUT}' output: "
                                   f"call the reranking ensemble")
        raise UnsupportedModel(f"Model '{interface.name}' does not rerank: it takes {inputs}, not a "
                               f"{PAIR_INPUTS[0].name} and a {PAIR_INPUTS[1].name} text per item")


def score_spec(interface: ModelInterface) -> TensorSpec:
    """The ``scores`` output of a reranker."""
    return next(spec for spec in interface.outputs if spec.name == SCORES_OUTPUT)


def pair_inputs(queries: Sequence[str], passages: Sequence[str],
                positions: Sequence[int] | None = None) -> list[tuple[str, str, np.ndarray]]:
    """The two BYTES tensors of one request, one (query, passage) pair per row.

    Raises:
        InputError: The two sides differ in length, or a side of a pair is empty.
    """
    if len(queries) != len(passages):
        raise InputError(f"{len(queries)} queries but {len(passages)} passages: give one passage per query")
    for row, (query, passage) in enumerate(zip(queries, passages)):
        position = positions[row] if positions is not None else row
        for side, text in (("query", query), ("passage", passage)):
            if not text.strip():
                raise InputError(f"Pair {position + 1} has an empty {side}")
    return [(spec.name, spec.triton_dtype,
             np.array([text.encode("utf-8") for text in texts], dtype=np.object_).reshape(-1, 1))
            for spec, texts in zip(PAIR_INPUTS, (queries, passages))]


@dataclass(frozen=True)
class PairPlan:
    """What to send to a reranker and ask back: the counterpart of :class:`~client.plan.RequestPlan` for pairs.

    :meth:`~client.text_client.TextClient.stream` sends its items, (query, passage) pairs, as it sends texts.

    Attributes:
        interface: The reranker's tensors, from its config.
        batch_size: Pairs per request (default and maximum: the model's ``max_batch_size``).
    """

    interface: ModelInterface
    batch_size: int
    #: Pairs are never tokenized on the client (and not sorted by token count).
    encoder: None = None

    @classmethod
    def build(cls, interface: ModelInterface, batch_size: int | None = None, pairs: int = 1) -> PairPlan:
        """Check that the model scores pairs and fix the batch size (all ``pairs`` in one request if it does not batch).

        Raises:
            UnsupportedModel: The model does not score (query, passage) pairs.
        """
        check_reranker(interface)
        limit = interface.max_batch_size or max(pairs, 1)
        return cls(interface=interface, batch_size=min(batch_size or limit, limit))

    @property
    def model(self) -> str:
        """The model the requests go to."""
        return self.interface.name

    def inputs(self, pairs: Sequence[tuple[str, str]],
               positions: Sequence[int] | None = None) -> list[tuple[str, str, np.ndarray]]:
        """The two text tensors of one request carrying ``pairs`` (see :func:`pair_inputs`)."""
        return pair_inputs([query for query, _ in pairs], [passage for _, passage in pairs], positions)

    def outputs(self) -> list[RequestedOutput]:
        """The ``scores`` output (see :func:`requested_outputs`)."""
        return requested_outputs(self.interface)

    def predictions(self, pairs: Sequence[tuple[str, str]], arrays: dict[str, np.ndarray],
                    positions: Sequence[int] | None = None) -> list[Prediction]:
        """One prediction per pair: the passage as its text, its row of ``scores`` as its output."""
        return [Prediction(index=positions[row] if positions is not None else row, text=passage,
                           outputs={SCORES_OUTPUT: arrays[SCORES_OUTPUT][row]})
                for row, (_, passage) in enumerate(pairs)]


def requested_outputs(interface: ModelInterface) -> list[RequestedOutput]:
    """``scores``: raw for one score per pair, every label through the classification extension otherwise."""
    spec = score_spec(interface)
    return [RequestedOutput(SCORES_OUTPUT, class_count=spec.dims[-1] if spec.labelled else 0)]


def read_scores(interface: ModelInterface,
                array: np.ndarray | Sequence[np.ndarray]) -> list[tuple[float, tuple[Label, ...]]]:
    """``(score, labels)`` per pair from the ``scores`` array (or its rows); labels only for several labels."""
    if not score_spec(interface).labelled:
        return [(float(value), ()) for value in np.asarray(array, dtype=np.float64).reshape(len(array), -1)[:, 0]]
    return [(max(label.score for label in labels), tuple(labels))
            for labels in (parse_classes(row) for row in array)]


def rank(documents: Sequence[str], scored: Sequence[tuple[float, tuple[Label, ...]]], label: str | None,
         top_k: int | None) -> list[RankedDocument]:
    """Documents sorted by score, best first (ties keep input order); ``top_k`` keeps the best ones.

    Args:
        documents: The documents, in input order.
        scored: ``(score, labels)`` of each, from :func:`read_scores`.
        label: For pair classifiers with several labels, the label whose score ranks.
        top_k: Documents to keep.

    Raises:
        UnsupportedModel: The model has several labels and ``label`` is not one of them (or not given).
    """
    ranked = []
    for index, (document, (score, labels)) in enumerate(zip(documents, scored)):
        if labels:
            names = sorted(x.label for x in labels)
            chosen = next((x for x in labels if x.label == label), None)
            if chosen is None:
                hint = f"'{label}' is not one of them" if label else "choose the one to rank by with --label"
                raise UnsupportedModel(f"The model scores pairs over {len(labels)} labels ({', '.join(names)}): "
                                       f"{hint}")
            score = chosen.score
        ranked.append(RankedDocument(index, document, score, labels))
    ranked.sort(key=lambda item: (-item.score, item.index))
    return ranked[:top_k] if top_k else ranked
