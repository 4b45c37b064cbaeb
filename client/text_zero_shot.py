"""Zero-shot classification with an NLI model's zero-shot model: a text and candidate labels in, scores out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from client.connection import RequestedOutput
from client.errors import InputError, UnsupportedModel
from client.metadata import ModelInterface
from tritonize.repo_format import nli_zero_shot as zero_shot
from tritonize.repo_format.names import ModelNames


@dataclass(frozen=True)
class ZeroShotResult:
    """The candidate labels of one text, best first, as transformers' zero-shot pipeline returns them.

    Attributes:
        index: Position of the text among those given (0-based).
        sequence: The text.
        labels: The candidate labels, best first.
        scores: Their scores (summing to 1 over the labels unless multi-label).
    """

    index: int
    sequence: str
    labels: tuple[str, ...]
    scores: tuple[float, ...]

    def to_record(self) -> dict[str, object]:
        """A JSON-ready record in the pipeline's shape (``sequence``, ``labels``, ``scores``) with the index."""
        return {"index": self.index, "sequence": self.sequence, "labels": list(self.labels),
                "scores": list(self.scores)}


def parse_labels(text: str) -> list[str]:
    """Candidate labels from ``a, b, c`` as the pipeline splits a string: on commas, stripped, blanks dropped."""
    return [label.strip() for label in text.split(",") if label.strip()]


def takes_labels(interface: ModelInterface) -> bool:
    """The model takes a text and candidate labels: a zero-shot model."""
    names = {spec.name for spec in interface.inputs}
    return {zero_shot.TEXT_INPUT, zero_shot.LABELS_INPUT} <= names


def candidate_names(name: str) -> list[str]:
    """Models to try for ``name``: itself, then the zero-shot model its export writes beside a pair ensemble."""
    return [name, ModelNames(name).zero_shot]


def check_zero_shot(interface: ModelInterface) -> None:
    """Raise :class:`UnsupportedModel` unless the model classifies a text over candidate labels."""
    if not takes_labels(interface):
        inputs = ", ".join(spec.name for spec in interface.inputs) or "none"
        raise UnsupportedModel(f"Model '{interface.name}' does not classify zero-shot: it takes {inputs}, not a "
                               f"{zero_shot.TEXT_INPUT} and {zero_shot.LABELS_INPUT} (export an NLI model)")


def request(text: str, labels: Sequence[str], template: str | None,
            multi_label: bool) -> list[tuple[str, str, np.ndarray]]:
    """The inputs of one request.

    Raises:
        InputError: An empty text or no candidate labels.
    """
    if not text.strip():
        raise InputError("Empty text: zero-shot classification needs a text")
    if not labels:
        raise InputError("No candidate labels: give at least one (--labels a,b,c)")
    inputs = [(zero_shot.TEXT_INPUT, "BYTES", np.array([text.encode("utf-8")], dtype=np.object_)),
              (zero_shot.LABELS_INPUT, "BYTES", np.array([label.encode("utf-8") for label in labels],
                                                         dtype=np.object_))]
    if template is not None:
        inputs.append((zero_shot.TEMPLATE_INPUT, "BYTES", np.array([template.encode("utf-8")], dtype=np.object_)))
    inputs.append((zero_shot.MULTI_LABEL_INPUT, mc.DataType.Name(mc.TYPE_BOOL).removeprefix("TYPE_"),
                   np.array([multi_label], dtype=bool)))
    return inputs


OUTPUTS = [RequestedOutput(zero_shot.LABELS_OUTPUT), RequestedOutput(zero_shot.SCORES_OUTPUT)]


def read_result(index: int, text: str, arrays: dict[str, np.ndarray]) -> ZeroShotResult:
    """The result of one answered request."""
    labels = tuple(item.decode("utf-8") if isinstance(item, bytes) else str(item)
                   for item in np.asarray(arrays[zero_shot.LABELS_OUTPUT], dtype=object).reshape(-1))
    scores = tuple(float(value) for value in np.asarray(arrays[zero_shot.SCORES_OUTPUT]).reshape(-1))
    return ZeroShotResult(index, text, labels, scores)
