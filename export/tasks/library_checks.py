"""Check the exported head against the library that defines the task, on the verification texts.

The artifacts are compared with the PyTorch head (:mod:`export.verify`); these checks (``ref <library>`` in the
verification table) tie the head to the reference: ``CrossEncoder.predict`` for rerankers,
``SparseEncoder.encode`` for sparse embeddings and transformers' token-classification pipeline for entities.
"""

from __future__ import annotations

import numpy as np

from export.gates import Gate
from export.load_model import LoadedModel
from export.python_models.entities_model import EntityGrouper
from export.signature import Task
from export.tasks.rerank import verification_pairs
from export.verify import VERIFICATION_BATCHES, VERIFICATION_TEXTS, Check
from tritonize.repo_format.tokenizer_encoding import TextEncoder

#: Position in VERIFICATION_BATCHES of the batch that holds every verification text.
_ALL = next(i for i, batch in enumerate(VERIFICATION_BATCHES) if len(batch) == len(VERIFICATION_TEXTS))


def reference_checks(loaded: LoadedModel, batches: list[dict[str, np.ndarray]], outputs: list[list[np.ndarray]],
                     encoder: TextEncoder, gate: Gate, aggregation_strategy: str) -> list[Check]:
    """Compare the PyTorch head's ``outputs`` on ``batches`` with the reference library (tasks that have one)."""
    folder = str(loaded.info.source.folder)
    task = loaded.info.task
    head, batch = outputs[_ALL], batches[_ALL]
    length = batch["input_ids"].shape[1]
    if task is Task.TEXT_RANKING:
        from sentence_transformers import CrossEncoder

        pairs = verification_pairs()
        several = loaded.model.config.num_labels > 1
        expected = np.asarray(CrossEncoder(folder, device="cpu").predict(pairs, apply_softmax=several))
        diff = _diff(head[-1].reshape(expected.shape), expected)
        return [_check("ref CrossEncoder", "scores", len(pairs), length, diff, gate, _library("sentence_transformers"))]
    if task is Task.SPARSE_EMBEDDING:
        from sentence_transformers import SparseEncoder

        encoded = SparseEncoder(folder, device="cpu").encode(list(VERIFICATION_TEXTS), convert_to_tensor=True)
        expected = encoded.to_dense().numpy()
        indices, weights = head
        diff = 0.0
        for row, want in enumerate(expected):
            kept = indices[row] >= 0
            if kept.sum() != min(len(indices[row]), int((want > 0).sum())):
                diff = float("inf")
                break
            diff = max(diff, _diff(weights[row][kept], want[indices[row][kept]]))
        return [_check("ref SparseEncoder", "weights", len(expected), length, diff, gate,
                       _library("sentence_transformers"))]
    if task is Task.TOKEN_CLASSIFICATION:
        return [_entities_check(loaded, encoder, head[0], length, gate, aggregation_strategy)]
    return []


def _entities_check(loaded: LoadedModel, encoder: TextEncoder, logits: np.ndarray, length: int, gate: Gate,
                    strategy: str) -> Check:
    """Entities grouped from the head's logits vs transformers' pipeline on the same texts."""
    from transformers import pipeline

    spans = encoder.for_outputs(["input_ids", "offsets", "special_tokens_mask"]).encode(list(VERIFICATION_TEXTS))
    tagger = pipeline("token-classification", model=loaded.model, tokenizer=loaded.tokenizer, device="cpu",
                      aggregation_strategy=strategy)
    grouper = EntityGrouper(encoder.tokenizer, list(loaded.info.labels), strategy)
    diff = 0.0
    for row, text in enumerate(VERIFICATION_TEXTS):
        got = grouper.entities(text, spans["input_ids"][row], spans["offsets"][row], spans["special_tokens_mask"][row],
                               logits[row])
        want = tagger(text)
        same = [{k: v for k, v in e.items() if k != "score"} for e in got] == \
            [{k: v.item() if isinstance(v, np.generic) else v for k, v in e.items() if k != "score"} for e in want]
        if not same:
            diff = float("inf")
            break
        diff = max([diff] + [abs(float(a["score"]) - float(b["score"])) for a, b in zip(got, want)])
    return _check("ref pipeline", "entities", len(VERIFICATION_TEXTS), length, diff, gate, _library("transformers"))


def _diff(got: np.ndarray, want: np.ndarray) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.max(np.abs(got - want))) if got.size else 0.0


def _library(module: str) -> str:
    """The reference library with its version (``sentence-transformers 5.1.0``), as failure messages name it."""
    import importlib

    return f"{module.replace('_', '-')} {importlib.import_module(module).__version__}"


def _check(artifact: str, output: str, texts: int, length: int, diff: float, gate: Gate, against: str) -> Check:
    passed = bool(np.isfinite(diff) and (gate.atol is None or diff <= gate.atol))
    return Check(artifact, output, texts, length, diff, None, None, None, gate, passed, against)
