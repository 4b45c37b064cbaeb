"""Verify exported artifacts against PyTorch eager on a fixed set of varied texts, fail closed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.backends.tokenizer_model import TextEncoder
from export.signature import Signature, Task

#: Texts of different lengths and scripts; the last is long enough to be truncated by most models.
VERIFICATION_TEXTS = (
    "Hello world.",
    "Triton serves many models at once on one GPU.",
    "The quick brown fox jumps over the lazy dog, then naps in the warm afternoon sun near the river bank.",
    "Ünïcödé, émojis 🙂 and 漢字 must survive tokenization.",
    "Short",
    "A customer review: the battery lasts two days, the screen is sharp, but the speaker is far too quiet "
    "for a kitchen, and the charger gets warm. Would I buy it again? Probably, if it were on sale.",
    " ".join(["Long inputs are truncated to the model's maximum length."] * 60),
)

#: Batches of texts, as indices into VERIFICATION_TEXTS: single texts and padded batches.
VERIFICATION_BATCHES = ((0,), (4,), (0, 1, 2, 3), (1, 4, 5), tuple(range(len(VERIFICATION_TEXTS))))

Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class Check:
    """One output of one artifact on one batch, compared with PyTorch.

    Attributes:
        artifact: ``onnx`` or ``torchscript``.
        output: Output tensor name.
        batch_size: Texts in the batch.
        sequence_length: Padded token length of the batch.
        max_abs_diff: Largest absolute difference.
        min_cosine: Smallest per-row cosine similarity (embeddings only).
        passed: Within the tolerances.
    """

    artifact: str
    output: str
    batch_size: int
    sequence_length: int
    max_abs_diff: float
    min_cosine: float | None
    passed: bool


@dataclass(frozen=True)
class Report:
    """All checks of one export."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(check.passed for check in self.checks)

    def worst(self) -> list[Check]:
        """The worst check per artifact and output, for summaries."""
        worst: dict[tuple[str, str], Check] = {}
        for check in self.checks:
            key = (check.artifact, check.output)
            if key not in worst or (not check.passed, check.max_abs_diff) > (
                not worst[key].passed, worst[key].max_abs_diff
            ):
                worst[key] = check
        return list(worst.values())


def verification_inputs(encoder: TextEncoder) -> list[dict[str, np.ndarray]]:
    """Token batches for verification, tokenized exactly as the served tokenizer model does."""
    return [encoder.encode([VERIFICATION_TEXTS[i] for i in batch]) for batch in VERIFICATION_BATCHES]


def compare(artifact: str, signature: Signature, batch: dict[str, np.ndarray], expected: list[np.ndarray],
            actual: list[np.ndarray], atol: float, min_cosine: float) -> list[Check]:
    """Compare one artifact's outputs with PyTorch's on one batch."""
    checks = []
    batch_size, sequence_length = batch[signature.input_names[0]].shape
    for spec, want, got in zip(signature.outputs, expected, actual):
        if got.shape != want.shape:
            checks.append(Check(artifact, spec.name, batch_size, sequence_length, float("inf"), None, False))
            continue
        diff = float(np.max(np.abs(want.astype(np.float64) - got.astype(np.float64))))
        cosine = _min_cosine(want, got) if signature.task is Task.FEATURE_EXTRACTION else None
        passed = diff <= atol and (cosine is None or cosine >= min_cosine)
        checks.append(Check(artifact, spec.name, batch_size, sequence_length, diff, cosine, passed))
    return checks


def verify(artifact: str, runner: Runner, signature: Signature, batches: list[dict[str, np.ndarray]],
           references: list[list[np.ndarray]], atol: float, min_cosine: float) -> list[Check]:
    """Run ``runner`` on every batch and compare with the PyTorch references."""
    checks: list[Check] = []
    for batch, expected in zip(batches, references):
        checks.extend(compare(artifact, signature, batch, expected, runner(batch), atol, min_cosine))
    return checks


def onnx_runner(path: Path, signature: Signature) -> Runner:
    """Run an ONNX file in ONNX Runtime on the CPU with exactly the signature's tensor names."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda batch: session.run(signature.output_names, {name: batch[name] for name in signature.input_names})


def torchscript_runner(path: Path, signature: Signature) -> Runner:
    """Run a TorchScript file with torch.jit, inputs in the signature's order."""
    import torch

    module = torch.jit.load(str(path)).eval()

    def run(batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            outputs = module(*[torch.from_numpy(batch[name]) for name in signature.input_names])
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return [output.numpy() for output in outputs]

    return run


def _min_cosine(want: np.ndarray, got: np.ndarray) -> float:
    a = want.reshape(want.shape[0], -1).astype(np.float64)
    b = got.reshape(got.shape[0], -1).astype(np.float64)
    cos = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
    return float(cos.min())
