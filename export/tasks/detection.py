"""Recognise reranker and sparse-encoder folders, and which tasks a folder may be exported as."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from export.signature import Task

#: sentence-transformers' own settings file; its ``model_type`` names the model class that saved the folder.
ST_CONFIG_FILE = "config_sentence_transformers.json"
#: ``model_type`` in :data:`ST_CONFIG_FILE` → task.
ST_MODEL_TASKS = {"CrossEncoder": Task.TEXT_RANKING, "SparseEncoder": Task.SPARSE_EMBEDDING,
                  "ColBERT": Task.MULTI_VECTOR}
#: Keys of ``config.json`` that sentence-transformers' CrossEncoder writes (v4+, and before v4).
CROSS_ENCODER_KEYS = ("sentence_transformers", "sbert_ce_default_activation_function")

#: The architecture Stanford ColBERT checkpoints name (their linear head is in the model file).
STANFORD_COLBERT = "HF_ColBERT"
#: BGE-M3's heads beside the encoder's weights.
M3_HEADS = ("colbert_linear.pt", "sparse_linear.pt")

SEQUENCE_CLASSIFIER = "ForSequenceClassification"
MASKED_LM = "ForMaskedLM"


def read_json(path: Path) -> dict:
    """A JSON object from ``path``, or ``{}`` when there is no such file."""
    return json.loads(path.read_text()) if path.is_file() else {}


#: Classes transformers gives a classifier whose config names none (``PretrainedConfig.num_labels``' default).
DEFAULT_NUM_LABELS = 2


def class_names(config: dict) -> tuple[str, ...]:
    """Class names in index order, as transformers reads them from ``config.json``.

    ``id2label`` when present; otherwise ``num_labels`` classes (2 when absent) named ``LABEL_0``, ``LABEL_1`` …,
    as ``PretrainedConfig`` names them (transformers 5 writes neither key when the labels are its defaults).
    """
    id2label = config.get("id2label") or {}
    if id2label:
        return tuple(str(id2label[key]) for key in sorted(id2label, key=int))
    count = config.get("num_labels")
    count = count if isinstance(count, int) and count > 0 else DEFAULT_NUM_LABELS
    return tuple(f"LABEL_{index}" for index in range(count))


#: ``problem_type`` of a classifier whose logits are the answer (transformers' pipeline applies no function).
REGRESSION = "regression"
#: Label names of NLI classifiers: a label starting with this (any case) marks the entailment class, as in
#: transformers' zero-shot-classification pipeline.
ENTAILMENT_PREFIX = "entail"


@dataclass(frozen=True)
class Detection:
    """The task a folder says it serves, and why, in words the export summary prints.

    Attributes:
        task: The detected task.
        reason: What in the folder chose it (``a sentence-transformers CrossEncoder folder``).
        other: The ``--task`` that serves the other reading of the same head, when there is one.
    """

    task: Task
    reason: str
    other: Task | None = None


def entailment_id(labels: tuple[str, ...]) -> int:
    """Index of the entailment class (the first label starting with ``entail``), or -1 when there is none."""
    return next((i for i, label in enumerate(labels) if label.lower().startswith(ENTAILMENT_PREFIX)), -1)


def is_cross_encoder_folder(folder: Path, config: dict) -> bool:
    """sentence-transformers CrossEncoder files: its settings file, or its keys in ``config.json``."""
    st_type = read_json(folder / ST_CONFIG_FILE).get("model_type", "")
    return st_type == "CrossEncoder" or any(key in config for key in CROSS_ENCODER_KEYS)


def detect_special_task(folder: Path, architectures: list[str], decoder: bool = False) -> Detection | None:
    """Reranking, NLI pair classification, a raw score or sparse embedding, else ``None`` (ordinary detection).

    What the folder says decides, in this order: sentence-transformers' own files (CrossEncoder → text-ranking,
    SparseEncoder → sparse-embedding); an ``entailment`` label (an NLI model: a pair classifier, which also serves
    zero-shot classification); for one label, ``problem_type: regression`` or a decoder language model (a reward
    model) → text-classification whose ``logits`` are the raw score; any other one-label encoder → text-ranking,
    as ``CrossEncoder`` loads it. Classifiers with several labels are left to transformers' pipeline rules.
    """
    if all((folder / name).is_file() for name in M3_HEADS):
        return Detection(Task.MULTI_VECTOR, "BGE-M3 heads (colbert_linear.pt, sparse_linear.pt): dense, sparse and "
                                            "ColBERT vectors", Task.FEATURE_EXTRACTION)
    if STANFORD_COLBERT in architectures:
        return Detection(Task.MULTI_VECTOR, "a Stanford ColBERT checkpoint (HF_ColBERT with its linear head)")
    st_task = ST_MODEL_TASKS.get(read_json(folder / ST_CONFIG_FILE).get("model_type", ""))
    if st_task is not None:
        return Detection(st_task, f"a sentence-transformers {read_json(folder / ST_CONFIG_FILE)['model_type']} "
                                  f"folder", Task.TEXT_CLASSIFICATION if st_task is Task.TEXT_RANKING else None)
    if not any(arch.endswith(SEQUENCE_CLASSIFIER) for arch in architectures):
        return None
    config = read_json(folder / "config.json")
    labels = class_names(config)
    if is_cross_encoder_folder(folder, config):
        return Detection(Task.TEXT_RANKING, "sentence-transformers CrossEncoder settings in config.json",
                         Task.TEXT_CLASSIFICATION)
    if entailment_id(labels) >= 0 and len(labels) > 1:
        return Detection(Task.TEXT_RANKING, "NLI labels (entailment): a (premise, hypothesis) pair classifier",
                         Task.TEXT_CLASSIFICATION)
    if len(labels) != 1:
        return None
    if config.get("problem_type") == REGRESSION:
        return Detection(Task.TEXT_CLASSIFICATION, "one label with problem_type regression: the raw score",
                         Task.TEXT_RANKING)
    if decoder:
        return Detection(Task.TEXT_CLASSIFICATION, "one label on a decoder language model (a reward model): "
                                                   "the raw score in logits", Task.TEXT_RANKING)
    return Detection(Task.TEXT_RANKING, "one label on an encoder: a cross-encoder reranker, as CrossEncoder "
                                        "loads it", Task.TEXT_CLASSIFICATION)


def alternative_tasks(architectures: list[str], detected: Task | None) -> set[Task]:
    """Tasks ``--task`` may choose besides the detected one and feature extraction.

    A sequence classifier scores single texts or pairs; a masked language model gives SPLADE sparse embeddings.
    """
    tasks: set[Task] = set()
    if detected in (Task.TEXT_CLASSIFICATION, Task.TEXT_RANKING):
        tasks |= {Task.TEXT_CLASSIFICATION, Task.TEXT_RANKING}
    if detected is Task.SPARSE_EMBEDDING or any(arch.endswith(MASKED_LM) for arch in architectures):
        tasks.add(Task.SPARSE_EMBEDDING)
    return tasks


#: What each task makes of a classifier's head, for the summary's "--task X …" hint.
_TASK_READINGS = {
    Task.TEXT_RANKING: "scores (query, passage) pairs",
    Task.TEXT_CLASSIFICATION: "scores one text, logits raw",
    Task.FEATURE_EXTRACTION: "serves the dense embedding alone",
}


def describe_detection(detection: Detection | None, chosen: Task) -> str:
    """One line for the export summary: which task, why, and the flag that changes it ("" when nothing to say)."""
    if detection is None:
        return ""
    if chosen is not detection.task:
        return f"{chosen.value}, chosen by --task (the folder says {detection.task.value}: {detection.reason})"
    hint = ""
    if detection.other in _TASK_READINGS:
        hint = f"; --task {detection.other.value} {_TASK_READINGS[detection.other]}"
    return f"{chosen.value}, detected from {detection.reason}{hint}"
