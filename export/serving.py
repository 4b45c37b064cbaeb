"""Which serving path a text export takes: one step (tokenize + ONNX Runtime in one model) or the ensemble.

The one-step model serves one request with one model hop instead of two (no ensemble scheduling, one
Python-backend stub transport): on the 2-core development machine it served the bundled MiniLM at 1.16× the
ensemble's throughput at c16, c1 p50 8.5 vs 10.1 ms (docs/performance.md, "Peers"). It applies where the
ensemble would be exactly tokenizer → model and ONNX Runtime runs in the Python backend's process: CPU
instances, the ONNX artifact, tasks without a step after the model, and a batching model.
"""

from __future__ import annotations

from dataclasses import dataclass

from export.errors import UsageError
from export.settings import ExportSettings, Format, Serving
from export.signature import Task

#: Tasks whose ensemble is exactly tokenizer → model: embeddings (sentence-transformers pooling and normalisation
#: are in the graph), sequence and pair classification, cross-encoder reranking.
ONE_STEP_TASKS = (Task.FEATURE_EXTRACTION, Task.TEXT_CLASSIFICATION, Task.TEXT_RANKING)


@dataclass(frozen=True)
class ServingChoice:
    """The serving path an export takes, and why (for the summary).

    Attributes:
        path: ``one-step`` or ``ensemble``.
        reason: Why, in a few words.
    """

    path: Serving
    reason: str

    @property
    def one_step(self) -> bool:
        """The export writes the one-step model instead of the ensemble, tokenizer and ONNX models."""
        return self.path == "one-step"


def blocker(settings: ExportSettings, task: Task, ensemble_format: Format, zero_shot: bool) -> str | None:
    """Why the one-step model cannot serve this export, or ``None`` when it can."""
    if settings.instance_kind != "cpu":
        return ("GPU instances keep the ensemble (the ONNX Runtime backend runs the model on the GPU; the "
                "Python backend's ONNX Runtime is CPU-only)")
    if ensemble_format != "onnx":
        return f"the ensemble calls the {ensemble_format} artifact (one step runs ONNX Runtime only)"
    if task not in ONE_STEP_TASKS:
        return f"{task.value} has a step after the model (the ensemble runs it)"
    if zero_shot:
        return "the NLI pair classifier's zero-shot model calls the pair ensemble"
    if settings.batching.max_batch_size == 0:
        return "--max-batch-size 0 does not batch (one step batches requests of equal token shapes)"
    return None


def choose_serving(settings: ExportSettings, task: Task, ensemble_format: Format, zero_shot: bool) -> ServingChoice:
    """The asked path, or the default: one step wherever it applies, the ensemble otherwise.

    Raises:
        UsageError: ``--serving one-step`` was asked where it cannot apply (the message says why).
    """
    why_not = blocker(settings, task, ensemble_format, zero_shot)
    if settings.serving == "ensemble":
        return ServingChoice("ensemble", "asked with --serving ensemble")
    if settings.serving == "one-step":
        if why_not is not None:
            raise UsageError(f"--serving one-step does not apply here: {why_not}. Leave it out or pass "
                             f"--serving ensemble.")
        return ServingChoice("one-step", "asked with --serving one-step")
    if why_not is not None:
        return ServingChoice("ensemble", f"default: {why_not}")
    return ServingChoice("one-step", "default for CPU ONNX text exports: one model hop per request instead of two")
