"""Word a verification failure: the first check that missed its gate, and by how much, in one line."""

from __future__ import annotations

from export.verify import Report


def failure_message(report: Report) -> str:
    """One line naming the first check that missed its gate and by how much.

    A threshold the gate does not set is left out rather than printed (a reference check has no agreement gate:
    its top classes are shown for information).
    """
    failed = next(c for c in report.checks if not c.passed)
    gate = failed.gate
    parts = [f"max |diff| {failed.max_abs_diff:.3g}" + _bound("atol", gate.atol, "g")]
    if failed.min_cosine is not None:
        parts.append(f"min cosine {failed.min_cosine:.6f}" + _bound("gate", gate.min_cosine, ""))
    if failed.mean_cosine is not None and gate.mean_cosine is not None:
        parts.append(f"mean cosine {failed.mean_cosine:.6f}" + _bound("gate", gate.mean_cosine, ""))
    if failed.agreement is not None:
        parts.append(f"top-class agreement {failed.agreement:.1%}" + _bound("gate", gate.min_agreement, ".0%"))
    return (f"Verification failed: {failed.artifact} ({gate.variant}) output '{failed.output}' differs from "
            f"{failed.against}: {', '.join(parts)}. Nothing was written.")


def _bound(word: str, value: float | None, fmt: str) -> str:
    """`` (word value)`` when the gate sets ``value``, else nothing."""
    return "" if value is None else f" ({word} {format(value, fmt)})"
