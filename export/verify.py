"""Verify exported artifacts against PyTorch eager on a fixed set of varied texts, fail closed.

PyTorch eager itself is checked against the reference library (:mod:`export.reference_outputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.gates import Gate
from export.signature import Signature
from tritonize.repo_format.tokenizer_encoding import TextEncoder

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
    """One output of one artifact over all verification batches, compared with PyTorch.

    Attributes:
        artifact: ``onnx`` or ``torchscript``, with the runtime when it is not the local one.
        output: Output tensor name.
        texts: Texts compared, over all batches (sizes 1 and more, with padding).
        sequence_length: Longest padded token length.
        max_abs_diff: Largest absolute difference.
        min_cosine: Smallest per-row cosine similarity (when the gate checks cosines).
        mean_cosine: Mean per-row cosine similarity (when the gate checks cosines).
        agreement: Share of rows or tokens with PyTorch's top class (when the gate checks it).
        gate: The thresholds applied.
        passed: Within the gate.
        against: What the artifact was compared with (``PyTorch``, or the reference library).
    """

    artifact: str
    output: str
    texts: int
    sequence_length: int
    max_abs_diff: float
    min_cosine: float | None
    mean_cosine: float | None
    agreement: float | None
    gate: Gate
    passed: bool
    against: str = "PyTorch"


@dataclass(frozen=True)
class Report:
    """All checks of one export."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(check.passed for check in self.checks)


def verification_inputs(encoder: TextEncoder) -> list[dict[str, np.ndarray]]:
    """Token batches for verification, tokenized exactly as the served tokenizer model does."""
    return [encoder.encode([VERIFICATION_TEXTS[i] for i in batch]) for batch in VERIFICATION_BATCHES]


def compare(artifact: str, signature: Signature, batches: list[dict[str, np.ndarray]],
            expected: list[list[np.ndarray]], actual: list[list[np.ndarray]], gate: Gate) -> list[Check]:
    """Compare one artifact's outputs with PyTorch's over all batches: one check per output.

    Differences and the minimum cosine are the worst over every text; the mean cosine and the top-class
    agreement are taken over all texts (or tokens) together.
    """
    checks = []
    sequence_length = max(batch[signature.input_names[0]].shape[1] for batch in batches)
    texts = sum(batch[signature.input_names[0]].shape[0] for batch in batches)
    for index, spec in enumerate(signature.outputs):
        pairs = [(want[index].astype(np.float64), got[index].astype(np.float64)) for want, got in zip(expected, actual)]
        if any(want.shape != got.shape or not np.isfinite(got).all() for want, got in pairs):
            checks.append(Check(artifact, spec.name, texts, sequence_length, float("inf"), None, None, None,
                                gate, False))
            continue
        diff = max(float(np.max(np.abs(want - got))) for want, got in pairs)
        wants_cosine = gate.min_cosine is not None or gate.mean_cosine is not None
        cosines = np.concatenate([row_cosines(want, got) for want, got in pairs]) if wants_cosine else None
        agreement = (
            float(np.mean(np.concatenate([(w.argmax(-1) == g.argmax(-1)).ravel() for w, g in pairs])))
            if spec.labelled and gate.min_agreement is not None else None
        )
        passed = bool(
            (gate.atol is None or diff <= gate.atol)
            and (cosines is None or gate.min_cosine is None or cosines.min() >= gate.min_cosine)
            and (cosines is None or gate.mean_cosine is None or cosines.mean() >= gate.mean_cosine)
            and (agreement is None or agreement >= gate.min_agreement)
        )
        checks.append(Check(
            artifact, spec.name, texts, sequence_length, diff,
            None if cosines is None else float(cosines.min()), None if cosines is None else float(cosines.mean()),
            agreement, gate, passed,
        ))
    return checks


def verify(artifact: str, runner: Runner, signature: Signature, batches: list[dict[str, np.ndarray]],
           references: list[list[np.ndarray]], gate: Gate) -> list[Check]:
    """Run ``runner`` on every batch and compare with the PyTorch references."""
    return compare(artifact, signature, batches, references, [runner(batch) for batch in batches], gate)


def onnx_runner(path: Path, signature: Signature, providers: tuple[str, ...] = ("CPUExecutionProvider",)) -> Runner:
    """Run an ONNX file in ONNX Runtime with exactly the signature's tensor names."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=list(providers))
    return lambda batch: session.run(signature.output_names, {name: batch[name] for name in signature.input_names})


def torchscript_runner(path: Path, signature: Signature, device: str = "cpu") -> Runner:
    """Run a TorchScript file with torch.jit, inputs in the signature's order."""
    import torch

    module = torch.jit.load(str(path), map_location=device).eval()

    def run(batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            outputs = module(*[torch.from_numpy(batch[name]).to(device) for name in signature.input_names])
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return [output.float().cpu().numpy() for output in outputs]

    return run


def row_cosines(want: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row (text or token) of ``got`` with the same row of ``want``."""
    a, b = want.reshape(want.shape[0], -1), got.reshape(got.shape[0], -1)
    return (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
