"""Results of the serving benchmark as people and machines read them: table, markdown, JSON and plots."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from client import bench_report
from client.bench_report import LevelResult
from export.pipeline import ExportResult

__all__ = ["CeilingPoint", "LevelResult", "ServingReport", "VariantResult", "markdown", "plain", "variant_result",
           "write"]


@dataclass(frozen=True)
class CeilingPoint:
    """In-process ONNX Runtime at one batch size and padding.

    Attributes:
        batch_size: Texts per run.
        pad_to_multiple_of: Length buckets (1: natural lengths).
        sentences_per_s: Texts per second, tokenization included.
        sorted_by_length: The whole corpus was sorted by length first (an offline bound, not the ceiling).
    """

    batch_size: int
    pad_to_multiple_of: int
    sentences_per_s: float
    sorted_by_length: bool = False

    @property
    def label(self) -> str:
        """``batch 1, natural lengths``, ``batch 8, buckets of 16`` or ``batch 16, natural lengths, sorted``."""
        padding = "natural lengths" if self.pad_to_multiple_of == 1 else f"buckets of {self.pad_to_multiple_of}"
        return f"batch {self.batch_size}, {padding}" + (", sorted" if self.sorted_by_length else "")


@dataclass(frozen=True)
class VariantResult:
    """One variant: its accuracy against PyTorch, its in-process ceiling and what the server reached.

    Attributes:
        variant: ``fp32``, ``optimize``, ``int8`` or ``optimize+int8``.
        model: The ensemble measured.
        min_cosine: Smallest per-text cosine vs PyTorch in the export's verification (``None``: not checked).
        mean_cosine: Mean cosine in the same checks.
        points: In-process measurements; the best is the ceiling.
        levels: perf_analyzer's results, one per concurrency.
        cpu_busy_before: Share of the CPUs other processes used just before measuring (noise indicator).
        corpus_min_cosine: Smallest cosine against the fp32 export over the benchmark's texts (not for fp32).
        corpus_mean_cosine: Mean of those cosines.
    """

    variant: str
    model: str
    min_cosine: float | None
    mean_cosine: float | None
    points: tuple[CeilingPoint, ...]
    levels: tuple[LevelResult, ...]
    cpu_busy_before: float
    corpus_min_cosine: float | None = None
    corpus_mean_cosine: float | None = None

    @property
    def ceiling(self) -> CeilingPoint:
        """The best in-process configuration with texts in corpus order (as a server receives them)."""
        return max((p for p in self.points if not p.sorted_by_length), key=lambda p: p.sentences_per_s)

    @property
    def offline(self) -> CeilingPoint | None:
        """The in-process run on length-sorted texts, when measured."""
        return next((p for p in self.points if p.sorted_by_length), None)

    @property
    def top(self) -> LevelResult:
        """The highest concurrency measured (c16 in the default plan)."""
        return max(self.levels, key=lambda r: r.concurrency)

    @property
    def ratio(self) -> float:
        """Served throughput at the highest concurrency over the in-process ceiling."""
        return self.top.throughput / self.ceiling.sentences_per_s

    @property
    def tail(self) -> float:
        """p99 over p50 at the highest concurrency."""
        return self.top.p99_ms / self.top.p50_ms if self.top.p50_ms else float("inf")


@dataclass(frozen=True)
class ServingReport:
    """A whole run: every variant, where its files are, and the run's settings and machine."""

    variants: tuple[VariantResult, ...]
    folder: Path
    meta: dict


def variant_result(variant: str, export: ExportResult, points: Sequence[CeilingPoint], levels: Sequence[LevelResult],
                   cpu_busy_before: float, corpus_cosines: tuple[float, float] | None = None) -> VariantResult:
    """Collect one variant's numbers; cosines vs PyTorch come from the export's verification report."""
    checks = [c for c in export.report.checks if c.min_cosine is not None]
    return VariantResult(
        variant, export.names.ensemble,
        min((c.min_cosine for c in checks), default=None),
        min((c.mean_cosine for c in checks if c.mean_cosine is not None), default=None),
        tuple(points), tuple(levels), cpu_busy_before, *(corpus_cosines or (None, None)),
    )


def markdown(serving: ServingReport) -> str:
    """Summary per variant, then every concurrency, then every in-process configuration."""
    meta = serving.meta
    baseline = next((v.top.throughput for v in serving.variants if v.variant == "fp32"), None)
    lines = [
        "# CPU serving benchmark",
        "",
        f"{meta.get('cpus')} × {meta.get('cpu')}, ONNX Runtime {meta.get('onnxruntime')}; {meta.get('texts')} texts; "
        f"perf_analyzer over {meta['plan']['protocol']}, one text per request; knobs: "
        f"{meta['plan']['tuning'] or 'exporter defaults'}.",
        "",
        "| variant | min cos | mean cos | corpus cos vs fp32 (min / mean) | in-process ceiling (texts/s) "
        "| served (infer/s) | served / in-process | p50 ms | p99 ms | p99 / p50 | × fp32 served "
        "| offline bound (texts/s) | CPU busy before |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for v in serving.variants:
        top, ceiling, offline = v.top, v.ceiling, v.offline
        versus = f"{top.throughput / baseline:.2f}" if baseline else "–"
        bound = f"{offline.sentences_per_s:.0f} ({offline.label})" if offline else "–"
        corpus = (f"{v.corpus_min_cosine:.4f} / {v.corpus_mean_cosine:.4f}"
                  if v.corpus_min_cosine is not None and v.corpus_mean_cosine is not None else "–")
        lines.append(f"| {v.variant} | {_cos(v.min_cosine)} | {_cos(v.mean_cosine)} | {corpus} | "
                     f"{ceiling.sentences_per_s:.0f} "
                     f"({ceiling.label}) | {top.throughput:.0f} (c{top.concurrency}) | {v.ratio:.2f} | "
                     f"{top.p50_ms:.1f} | {top.p99_ms:.1f} | {v.tail:.1f} | {versus} | {bound} | "
                     f"{v.cpu_busy_before:.0%} |")
    lines += ["", "| variant | concurrency | infer/s | p50 ms | p90 ms | p99 ms | p99 / p50 | queue ms | compute ms |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for v in serving.variants:
        for r in v.levels:
            lines.append(f"| {v.variant} | {r.concurrency} | {r.throughput:.1f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} | "
                         f"{r.p99_ms:.1f} | {r.p99_ms / r.p50_ms if r.p50_ms else 0:.1f} | {r.queue_ms:.2f} | "
                         f"{r.compute_ms:.2f} |")
    lines += ["", "| variant | in-process configuration | texts/s |", "|---|---|---:|"]
    for v in serving.variants:
        lines += [f"| {v.variant} | {p.label} | {p.sentences_per_s:.0f} |" for p in v.points]
    lines += ["", "Min/mean cos: the export's verification against PyTorch. The ceiling takes texts in corpus order, "
              "as a server receives them; the offline bound sorts the whole corpus by length first, which no server "
              "can. Queue and compute are the ensemble's.", ""]
    return "\n".join(lines)


def write(serving: ServingReport) -> None:
    """``summary.json``, ``summary.md``, ``throughput.png``, ``throughput_vs_p99.png``, ``latency_breakdown.png``."""
    folder = serving.folder
    records = [{**plain(v), "ceiling": plain(v.ceiling), "offline": plain(v.offline), "ratio": v.ratio,
                "p99_over_p50": v.tail} for v in serving.variants]
    (folder / "summary.json").write_text(json.dumps({**serving.meta, "variants": records}, indent=2) + "\n")
    (folder / "summary.md").write_text(markdown(serving))
    relabelled = [dataclasses.replace(r, model=v.variant) for v in serving.variants for r in v.levels]
    title = "MiniLM on the local Triton (CPU), one text per request"
    plot_throughput(serving.variants, folder / "throughput.png", title)
    bench_report.plot_throughput_latency(relabelled, folder / "throughput_vs_p99.png", title)
    bench_report.plot_latency_breakdown(relabelled, folder / "latency_breakdown.png", title)


def plot_throughput(variants: Sequence[VariantResult], path: Path, title: str) -> None:
    """Bars per variant: served throughput at each concurrency beside the in-process ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    concurrencies = sorted({r.concurrency for v in variants for r in v.levels})
    series = [(f"served c{c}", [next((r.throughput for r in v.levels if r.concurrency == c), 0.0) for v in variants])
              for c in concurrencies]
    series.append(("in-process ceiling", [v.ceiling.sentences_per_s for v in variants]))
    width = 0.8 / len(series)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.8 * len(variants) + 2), 4.5))
    for index, (label, values) in enumerate(series):
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(variants))]
        bars = axes.bar(positions, values, width, label=label, hatch="//" if label.startswith("in-process") else None)
        axes.bar_label(bars, fmt="%.0f", fontsize=7)
    axes.set_xticks(range(len(variants)), [v.variant for v in variants])
    axes.set_ylabel("texts per second")
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plain(value: object) -> object:
    """Dataclasses as JSON-ready dicts (tuples as lists, paths as strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _cos(value: float | None) -> str:
    return f"{value:.6f}" if value is not None else "–"
