"""Accuracy gates: how close each kind of artifact must stay to PyTorch fp32, fail closed."""

from __future__ import annotations

from dataclasses import dataclass, replace

from export.signature import Task


@dataclass(frozen=True)
class Gate:
    """Thresholds one artifact must meet on every verification batch; ``None`` means not checked.

    Attributes:
        variant: What the artifact is (``fp32``, ``fp32 fused``, ``fp16``, ``int8``).
        atol: Largest absolute difference of any output.
        min_cosine: Smallest per-row cosine similarity of embeddings.
        mean_cosine: Smallest mean cosine similarity of embeddings over a batch.
        min_agreement: Smallest share of rows (or tokens) whose top class equals PyTorch's.
    """

    variant: str
    atol: float | None = None
    min_cosine: float | None = None
    mean_cosine: float | None = None
    min_agreement: float | None = None


#: Defaults per variant: exact fp32 exports must match to the last digits; lossy ones by their purpose.
DEFAULT_GATES = {
    "fp32": Gate("fp32", atol=1e-4, min_cosine=0.9999),
    "fp32 fused": Gate("fp32 fused", min_cosine=0.9999, min_agreement=0.99),
    "fp16": Gate("fp16", min_cosine=0.999, min_agreement=0.99),
    "int8": Gate("int8", min_cosine=0.97, mean_cosine=0.99, min_agreement=0.99),
}


@dataclass(frozen=True)
class GateOverrides:
    """Thresholds given on the command line; ``None`` keeps the variant's default."""

    atol: float | None = None
    min_cosine: float | None = None
    mean_cosine: float | None = None
    min_agreement: float | None = None


def variant_name(fp16: bool, quantize: str | None, optimize: bool) -> str:
    """The variant an artifact is exported as."""
    if quantize:
        return quantize
    if fp16:
        return "fp16"
    return "fp32 fused" if optimize else "fp32"


def gate_for(variant: str, task: Task, overrides: GateOverrides) -> Gate:
    """The gate of ``variant``, with overrides applied and task-irrelevant checks dropped."""
    gate = DEFAULT_GATES[variant]
    gate = replace(gate, **{k: v for k, v in vars(overrides).items() if v is not None})
    if task in (Task.FEATURE_EXTRACTION, Task.IMAGE_FEATURE_EXTRACTION):
        return replace(gate, min_agreement=None)
    return replace(gate, min_cosine=None, mean_cosine=None)
