"""Recognise reranker and sparse-encoder folders, and which tasks a folder may be exported as."""

from __future__ import annotations

import json
from pathlib import Path

from export.signature import Task

#: sentence-transformers' own settings file; its ``model_type`` names the model class that saved the folder.
ST_CONFIG_FILE = "config_sentence_transformers.json"
#: ``model_type`` in :data:`ST_CONFIG_FILE` → task.
ST_MODEL_TASKS = {"CrossEncoder": Task.TEXT_RANKING, "SparseEncoder": Task.SPARSE_EMBEDDING}
#: Keys of ``config.json`` that sentence-transformers' CrossEncoder writes (v4+, and before v4).
CROSS_ENCODER_KEYS = ("sentence_transformers", "sbert_ce_default_activation_function")

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


def detect_special_task(folder: Path, architectures: list[str]) -> Task | None:
    """Reranking or sparse embedding when the folder is one, else ``None`` (the ordinary detection applies).

    A cross-encoder is a sentence-transformers CrossEncoder folder, or a sequence classifier with one label or
    with CrossEncoder settings in ``config.json``. A sparse encoder is a sentence-transformers SparseEncoder folder.
    """
    st_task = ST_MODEL_TASKS.get(read_json(folder / ST_CONFIG_FILE).get("model_type", ""))
    if st_task is not None:
        return st_task
    config = read_json(folder / "config.json")
    classifier = any(arch.endswith(SEQUENCE_CLASSIFIER) for arch in architectures)
    if classifier and (len(class_names(config)) == 1 or any(key in config for key in CROSS_ENCODER_KEYS)):
        return Task.TEXT_RANKING
    return None


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
