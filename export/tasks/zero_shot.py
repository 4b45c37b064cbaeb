"""Zero-shot classification: which exports serve it (NLI pair classifiers) through the zero-shot model."""

from __future__ import annotations

from export.load_model import ModelInfo
from export.signature import Task
from export.tasks.detection import entailment_id
from export.tasks.rerank import IDENTITY, activation_path


def zero_shot_entailment(info: ModelInfo) -> int | None:
    """The entailment class of a pair classifier that serves zero-shot classification, else ``None``.

    A text-ranking export with several labels, one of them entailment (transformers' rule: the first label
    starting with ``entail``), whose served ``logits`` are the model's own (no CrossEncoder activation on them):
    what transformers' zero-shot pipeline reduces.
    """
    labels = info.labels
    if info.task is not Task.TEXT_RANKING or len(labels) < 2 or entailment_id(labels) < 0:
        return None
    if activation_path(info.source.folder, len(labels)) != IDENTITY:
        return None
    return entailment_id(labels)
