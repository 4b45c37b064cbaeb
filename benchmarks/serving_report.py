"""Results of the serving benchmark as people and machines read them: tables, JSON and plots."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.inprocess import LayoutResult, ceiling
from client import bench_report
from client.bench_report import LevelResult
from export.pipeline import ExportResult

__all__ = ["BulkResult", "CorpusResult", "LevelResult", "ServingReport", "VariantResult", "markdown", "plain",
           "variant_result", "write"]


@dataclass(frozen=True)
class BulkResult:
    """``client predict --file`` on many texts, end to end, against the in-process bulk bound.

    Attributes:
        texts: Texts sent.
        seconds: Wall time of the client process, start-up and JSONL writing included.
        bound: In-process run of the same texts sorted by length, in the ceiling's layout.
    """

    texts: int
    seconds: float
    bound: LayoutResult

    @property
    def texts_per_s(self) -> float:
        """End-to-end throughput of the client."""
        return self.texts / self.seconds

    @property
    def ratio(self) -> float:
        """Client throughput over the in-process bulk bound."""
        return self.texts_per_s / self.bound.texts_per_s


@dataclass(frozen=True)
class CorpusResult:
    """One variant on one corpus.

    Attributes:
        corpus: ``short`` or ``long``.
        points: In-process layouts measured; the best is the ceiling.
        levels: perf_analyzer's results, one per concurrency (with the ensemble's steps).
        bulk: The bulk run, when measured.
        cpu_busy_before: Share of the CPUs other processes used just before measuring (noise indicator).
    """

    corpus: str
    points: tuple[LayoutResult, ...]
    levels: tuple[LevelResult, ...]
    bulk: BulkResult | None
    cpu_busy_before: float

    @property
    def ceiling(self) -> LayoutResult:
        """The best in-process layout, texts in corpus order."""
        return ceiling(self.points)

    def level(self, concurrency: int) -> LevelResult | None:
        """The served result at ``concurrency``, if measured."""
        return next((r for r in self.levels if r.concurrency == concurrency), None)

    @property
    def top(self) -> LevelResult:
        """The best served level."""
        return max(self.levels, key=lambda r: r.throughput)

    def ratio(self, level: LevelResult) -> float:
        """Served throughput of ``level`` over the ceiling."""
        return level.throughput / self.ceiling.texts_per_s


@dataclass(frozen=True)
class VariantResult:
    """One variant: its accuracy against PyTorch and, per corpus, its ceiling, served and bulk numbers.

    Attributes:
        variant: ``fp32``, ``optimize``, ``int8`` or ``optimize+int8``.
        model: The ensemble measured.
        min_cosine: Smallest per-text cosine vs PyTorch in the export's verification (``None``: not checked).
        mean_cosine: Mean cosine in the same checks.
        corpora: Results per corpus.
        corpus_min_cosine: Smallest cosine against the fp32 export over the short corpus (not for fp32).
        corpus_mean_cosine: Mean of those cosines.
    """

    variant: str
    model: str
    min_cosine: float | None
    mean_cosine: float | None
    corpora: tuple[CorpusResult, ...]
    corpus_min_cosine: float | None = None
    corpus_mean_cosine: float | None = None


@dataclass(frozen=True)
class ServingReport:
    """A whole run: every variant, where its files are, and the run's settings and machine."""

    variants: tuple[VariantResult, ...]
    folder: Path
    meta: dict


def variant_result(variant: str, export: ExportResult, corpora: Sequence[CorpusResult],
                   corpus_cosines: tuple[float, float] | None = None) -> VariantResult:
    """Collect one variant's numbers; cosines vs PyTorch come from the export's verification report."""
    checks = [c for c in export.report.checks if c.min_cosine is not None]
    return VariantResult(
        variant, export.names.ensemble,
        min((c.min_cosine for c in checks), default=None),
        min((c.mean_cosine for c in checks if c.mean_cosine is not None), default=None),
        tuple(corpora), *(corpus_cosines or (None, None)),
    )


def markdown(serving: ServingReport) -> str:
    """The summary (every number as a ratio to the ceiling), then served levels with their split, then layouts."""
    meta = serving.meta
    concurrencies = sorted({r.concurrency for v in serving.variants for c in v.corpora for r in c.levels})
    fp32 = {c.corpus: c for v in serving.variants if v.variant == "fp32" for c in v.corpora}
    lines = [
        "# CPU serving benchmark",
        "",
        f"{meta.get('cpus')} × {meta.get('cpu')}, ONNX Runtime {meta.get('onnxruntime')}; perf_analyzer over "
        f"{meta['plan']['protocol']}, one text per request; knobs: {meta['plan']['tuning'] or 'exporter defaults'}.",
        "",
        "| variant | corpus | ceiling (texts/s) | " + " | ".join(f"served c{c}" for c in concurrencies)
        + " | bulk (texts/s) | × fp32 served (best) | CPU busy before |",
        "|---|---|---|" + "---:|" * len(concurrencies) + "---:|---:|---:|",
    ]
    for v in serving.variants:
        for c in v.corpora:
            cells = []
            for concurrency in concurrencies:
                level = c.level(concurrency)
                cells.append(f"{level.throughput:.0f} ({c.ratio(level):.2f})" if level else "–")
            bulk = f"{c.bulk.texts_per_s:.0f} ({c.bulk.ratio:.2f} of {c.bulk.bound.texts_per_s:.0f})" \
                if c.bulk else "–"
            base = fp32.get(c.corpus)
            versus = f"{c.top.throughput / base.top.throughput:.2f}" if base and c.levels else "–"
            lines.append(f"| {v.variant} | {c.corpus} | {c.ceiling.texts_per_s:.0f} ({c.ceiling.label}) | "
                         + " | ".join(cells) + f" | {bulk} | {versus} | {c.cpu_busy_before:.0%} |")
    lines += ["", "Served cells: infer/s (served / ceiling). Bulk: `client predict --file … --jsonl` end to end "
              "(served / the in-process bulk bound on the same texts, sorted by length).", ""]
    lines += ["| variant | corpus | concurrency | infer/s | p50 ms | p99 ms | p99 / p50 | "
              "steps: queue / compute ms (mean batch) | rest ms |", "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for v in serving.variants:
        for c in v.corpora:
            for r in c.levels:
                steps = "; ".join(f"{s.model.rsplit('_', 1)[-1]} {s.queue_ms:.1f} / {s.compute_ms:.1f} "
                                  f"({s.mean_batch:.1f})" for s in r.stages) or "–"
                lines.append(f"| {v.variant} | {c.corpus} | {r.concurrency} | {r.throughput:.1f} | {r.p50_ms:.1f} | "
                             f"{r.p99_ms:.1f} | {r.p99_ms / r.p50_ms if r.p50_ms else 0:.1f} | {steps} | "
                             f"{r.client_ms:.1f} |")
    lines += ["", "Rest: the mean latency the steps do not account for (client, network, HTTP/gRPC front end, "
              "hand-offs between steps).", "",
              "| variant | corpus | in-process layout | texts/s |", "|---|---|---|---:|"]
    for v in serving.variants:
        for c in v.corpora:
            lines += [f"| {v.variant} | {c.corpus} | {p.label} | {p.texts_per_s:.0f} |" for p in c.points]
            if c.bulk:
                lines.append(f"| {v.variant} | {c.corpus} | bulk bound, {c.bulk.texts} texts: {c.bulk.bound.label} "
                             f"| {c.bulk.bound.texts_per_s:.0f} |")
    cosines = [v for v in serving.variants if v.min_cosine is not None]
    if cosines:
        lines += ["", "| variant | min cos vs PyTorch | mean cos | short-corpus cos vs fp32 (min / mean) |",
                  "|---|---:|---:|---:|"]
        for v in cosines:
            corpus = (f"{v.corpus_min_cosine:.4f} / {v.corpus_mean_cosine:.4f}"
                      if v.corpus_min_cosine is not None and v.corpus_mean_cosine is not None else "–")
            lines.append(f"| {v.variant} | {v.min_cosine:.6f} | {_cos(v.mean_cosine)} | {corpus} |")
    return "\n".join(lines) + "\n"


def write(serving: ServingReport) -> None:
    """``summary.json``, ``summary.md``, ``throughput.png``, ``throughput_vs_p99.png``, ``latency_breakdown.png``."""
    folder = serving.folder
    (folder / "summary.json").write_text(json.dumps({**serving.meta, "variants": [plain(v) for v in serving.variants]},
                                                    indent=2) + "\n")
    (folder / "summary.md").write_text(markdown(serving))
    relabelled = [dataclasses.replace(r, model=f"{v.variant} {c.corpus}")
                  for v in serving.variants for c in v.corpora for r in c.levels]
    title = "MiniLM on the local Triton (CPU), one text per request"
    plot_throughput(serving.variants, folder / "throughput.png", title)
    bench_report.plot_throughput_latency(relabelled, folder / "throughput_vs_p99.png", title)
    bench_report.plot_latency_breakdown(relabelled, folder / "latency_breakdown.png", title)


def plot_throughput(variants: Sequence[VariantResult], path: Path, title: str) -> None:
    """Bars per variant and corpus: served at each concurrency and bulk, beside the in-process ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(f"{v.variant}\n{c.corpus}", c) for v in variants for c in v.corpora]
    concurrencies = sorted({r.concurrency for _, c in groups for r in c.levels})
    series = [(f"served c{n}", [(c.level(n).throughput if c.level(n) else 0.0) for _, c in groups])
              for n in concurrencies]
    series.append(("bulk (client predict --file)", [c.bulk.texts_per_s if c.bulk else 0.0 for _, c in groups]))
    series.append(("in-process ceiling", [c.ceiling.texts_per_s for _, c in groups]))
    width = 0.8 / len(series)
    figure, axes = plt.subplots(figsize=(max(7.0, 2.2 * len(groups) + 2), 4.8))
    for index, (label, values) in enumerate(series):
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(groups))]
        bars = axes.bar(positions, values, width, label=label, hatch="//" if label.startswith("in-process") else None)
        axes.bar_label(bars, fmt="%.0f", fontsize=6)
    axes.set_xticks(range(len(groups)), [label for label, _ in groups])
    axes.set_ylabel("texts per second")
    axes.set_title(title)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plain(value: object) -> object:
    """Dataclasses as JSON-ready dicts (tuples as lists, paths as strings, properties of results included)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        record = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                  if getattr(value, f.name) is not None}
        if isinstance(value, CorpusResult):
            record["ceiling"] = plain(value.ceiling)
        if isinstance(value, BulkResult):
            record |= {"texts_per_s": value.texts_per_s, "ratio": value.ratio}
        return record
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _cos(value: float | None) -> str:
    return f"{value:.6f}" if value is not None else "–"

