"""Zero-shot classification over an NLI pair classifier: the request contract and the pipeline's arithmetic.

The zero-shot model (``NAME_zero_shot``) takes one text, its candidate labels, a hypothesis template and
``multi_label``; it builds one (text, hypothesis) pair per label, asks the pair ensemble for their logits and
reduces them here, as transformers' ``pipeline("zero-shot-classification")`` does. Imports numpy only and parses
on Python 3.10: the exporter copies this file beside the zero-shot model's ``model.py`` (as
``tritonize_nli_zero_shot.py``), and the client imports the same names.
"""

from __future__ import annotations

import numpy as np

#: Request inputs: the text (premise), the candidate labels, and the optional template and multi-label flag.
TEXT_INPUT = "TEXT"
LABELS_INPUT = "CANDIDATE_LABELS"
TEMPLATE_INPUT = "HYPOTHESIS_TEMPLATE"
MULTI_LABEL_INPUT = "MULTI_LABEL"
#: Response outputs: the candidate labels best first, and their scores.
LABELS_OUTPUT = "labels"
SCORES_OUTPUT = "scores"
#: transformers' default ``hypothesis_template``.
DEFAULT_TEMPLATE = "This example is {}."
#: Config parameters of the zero-shot model.
PAIR_MODEL_KEY = "pair_model"
ENTAILMENT_ID_KEY = "entailment_id"
PAIR_BATCH_KEY = "pair_batch_size"
#: The pair ensemble's inputs and the output the zero-shot model reads.
PAIR_INPUTS = ("QUERY", "PASSAGE")
PAIR_LOGITS = "logits"


class ZeroShotError(ValueError):
    """A request the zero-shot model refuses; the message names the input and what is wrong."""


def decode(items: np.ndarray | None, name: str) -> list[str]:
    """Strings of a BYTES tensor (``[]`` when absent), refusing invalid UTF-8."""
    if items is None:
        return []
    decoded = []
    for index, item in enumerate(np.asarray(items, dtype=object).reshape(-1)):
        raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
        try:
            decoded.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise ZeroShotError(f"{name} item {index} is not valid UTF-8 (byte {error.start})") from None
    return decoded


def hypotheses(labels: list[str], template: str) -> list[str]:
    """One hypothesis per label, ``template.format(label)``, with the pipeline's checks.

    Raises:
        ZeroShotError: No labels, or a template that the labels do not change (no ``{}``), or that does not format.
    """
    if not labels:
        raise ZeroShotError(f"{LABELS_INPUT} is empty: send at least one candidate label")
    try:
        made = [template.format(label) for label in labels]
    except (IndexError, KeyError, ValueError) as error:
        raise ZeroShotError(f"{TEMPLATE_INPUT} {template!r} does not format with a label: {error}") from None
    if made[0] == template:
        raise ZeroShotError(f"{TEMPLATE_INPUT} {template!r} has no {{}} where the label goes "
                            f"(e.g. {DEFAULT_TEMPLATE!r})")
    return made


def scores(logits: np.ndarray, entailment_id: int, multi_label: bool) -> np.ndarray:
    """Label scores from the pair logits ``[labels, classes]``, as the zero-shot pipeline computes them.

    Several labels, ``multi_label`` off: softmax of the entailment logits over the labels. ``multi_label`` on, or
    one label: per label, softmax over (contradiction, entailment), where contradiction is class 0, or the last
    class when entailment is class 0.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if multi_label or logits.shape[0] == 1:
        contradiction_id = -1 if entailment_id == 0 else 0
        pair = logits[:, [contradiction_id, entailment_id]]
        pair = np.exp(pair - pair.max(axis=-1, keepdims=True))
        return (pair / pair.sum(axis=-1, keepdims=True))[:, 1]
    entail = np.exp(logits[:, entailment_id] - logits[:, entailment_id].max())
    return entail / entail.sum()


def ranked(labels: list[str], label_scores: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Labels and scores best first (the pipeline's order: reversed ``argsort``)."""
    order = list(reversed(np.asarray(label_scores).argsort()))
    return [labels[i] for i in order], np.asarray(label_scores)[order]
