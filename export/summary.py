"""Human-readable summaries of an export: verification table, files written, how to serve."""

from __future__ import annotations

from pathlib import Path

from export.pipeline import ExportResult
from export.settings import ExportSettings
from export.verify import Report


def verification_table(report: Report, atol: float, min_cosine: float) -> str:
    """Worst numbers per artifact and output, with the number of batches checked."""
    header = f"{'artifact':<12} {'output':<14} {'batches':>7} {'max |diff|':>11} {'min cosine':>11}  result"
    lines = [header, "-" * len(header)]
    for worst in report.worst():
        count = sum(1 for c in report.checks if (c.artifact, c.output) == (worst.artifact, worst.output))
        cosine = f"{worst.min_cosine:.7f}" if worst.min_cosine is not None else "-"
        status = "ok" if worst.passed else "FAILED"
        lines.append(
            f"{worst.artifact:<12} {worst.output:<14} {count:>7} {worst.max_abs_diff:>11.2e} {cosine:>11}  {status}"
        )
    lines.append(f"tolerances: max |diff| ≤ {atol:g}" + (f", cosine ≥ {min_cosine}" if any(
        c.min_cosine is not None for c in report.checks) else ""))
    return "\n".join(lines)


def files_table(files: list[Path], repository: Path) -> str:
    """Files written, relative to the repository, with sizes."""
    return "\n".join(f"  {_size(p.stat().st_size):>9}  {p.relative_to(repository)}" for p in files)


def summary(result: ExportResult, settings: ExportSettings) -> str:
    """The full report printed after a successful export."""
    names = result.names
    outputs = ", ".join(f"{s.name} {s.triton_dtype} {list(s.dims)}" for s in result.signature.outputs)
    lines = [
        f"Exported {result.model_id} ({result.task.value}) as version {result.version} to {result.repository}",
        f"  ensemble  {names.ensemble}: TEXT BYTES [1] → {outputs}  (calls {names.artifact(result.ensemble_format)})",
        f"  tokenizer {names.tokenizer}: max_length {result.max_length}, "
        f"padded to multiples of {settings.batching.pad_to_multiple_of}",
        f"  target    Triton {settings.triton_release} (NGC), ONNX opset {settings.opset}, "
        f"instances {settings.instance_count}× {settings.instance_kind}, max_batch_size "
        f"{settings.batching.max_batch_size}",
    ]
    if result.labels:
        shown = ", ".join(result.labels[:8]) + (" …" if len(result.labels) > 8 else "")
        lines.append(f"  labels    {len(result.labels)}: {shown}")
    lines += [
        "",
        "Verification against PyTorch:",
        verification_table(result.report, settings.atol, settings.min_cosine),
        "",
        "Files written:",
        files_table(result.files, result.repository),
        "",
        f"Serve it:  python -m server --repository {settings.repository}",
        f"Query it:  client predict --model {names.ensemble} \"Hello world\"",
    ]
    return "\n".join(lines)


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"
