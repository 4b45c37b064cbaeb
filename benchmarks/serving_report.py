"""Results of the serving benchmark as people and machines read them: tables, JSON and plots."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.cpu_split import CpuSplit
from benchmarks.inprocess import LayoutResult, ceiling
from client import bench_report
from client.bench_report import LevelResult
from export.pipeline import ExportResult
from tritonize.repo_format.names import ModelNames

__all__ = ["BulkResult", "CorpusResult", "FailedLevel", "LevelResult", "ServingReport", "VariantResult", "markdown",
           "plain", "describe_split", "variant_result", "write"]


@dataclass(frozen=True)
class BulkResult:
    """``client predict --file`` on many texts, end to end, against the in-process bulk bound.

    Attributes:
        texts: Texts sent.
        seconds: Wall time of the client process, start-up and JSONL writing included.
        bound: In-process run of the same texts sorted by length, in the ceiling's layout.
        cpu: Who used the cores during the run (the client is the load generator).
    """

    texts: int
    seconds: float
    bound: LayoutResult
    cpu: CpuSplit | None = None

    @property
    def texts_per_s(self) -> float:
        """End-to-end throughput of the client."""
        return self.texts / self.seconds

    @property
    def ratio(self) -> float:
        """Client throughput over the in-process bulk bound."""
        return self.texts_per_s / self.bound.texts_per_s


@dataclass(frozen=True)
class FailedLevel:
    """A load level perf_analyzer could not measure (unstable windows, timeouts), and its own reason."""

    concurrency: int
    reason: str


@dataclass(frozen=True)
class CorpusResult:
    """One variant on one corpus.

    Attributes:
        corpus: ``short`` or ``long``.
        points: In-process layouts measured; the best is the ceiling.
        levels: perf_analyzer's results, one per concurrency (with the ensemble's steps).
        bulk: The bulk run, when measured.
        cpu_busy_before: Share of the CPUs other processes used just before measuring (noise indicator).
        cpu: Who used the cores at each level, in the order of ``levels``.
        failed: Levels perf_analyzer failed on; they are not in ``levels``.
    """

    corpus: str
    points: tuple[LayoutResult, ...]
    levels: tuple[LevelResult, ...]
    bulk: BulkResult | None
    cpu_busy_before: float
    cpu: tuple[CpuSplit, ...] = ()
    failed: tuple[FailedLevel, ...] = ()

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
    concurrencies = sorted({r.concurrency for v in serving.variants for c in v.corpora for r in (*c.levels, *c.failed)})
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
                failed = "failed¹" if any(f.concurrency == concurrency for f in c.failed) else "–"
                cells.append(f"{level.throughput:.0f} ({c.ratio(level):.2f})" if level else failed)
            bulk = f"{c.bulk.texts_per_s:.0f} ({c.bulk.ratio:.2f} of {c.bulk.bound.texts_per_s:.0f})" \
                if c.bulk else "–"
            base = fp32.get(c.corpus)
            versus = f"{c.top.throughput / base.top.throughput:.2f}" if base and c.levels and base.levels else "–"
            lines.append(f"| {v.variant} | {c.corpus} | {c.ceiling.texts_per_s:.0f} ({c.ceiling.label}) | "
                         + " | ".join(cells) + f" | {bulk} | {versus} | {c.cpu_busy_before:.0%} |")
    lines += ["", "Served cells: infer/s (served / ceiling). Bulk: `client predict --file … --jsonl` end to end "
              "(served / the in-process bulk bound on the same texts, sorted by length).", ""]
    lines += [f"¹ {v.variant} {c.corpus} c{f.concurrency}: {f.reason}" for v in serving.variants for c in v.corpora
              for f in c.failed]
    lines += [""] if lines[-1] else []
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
              "hand-offs between steps).", ""]
    lines += _cpu_table(serving)
    lines += ["",
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


def describe_split(used: CpuSplit) -> str:
    """``onnx 71 %, tokenizer 9 %, …``: each role's share of the cores, models by their step name."""
    roles = sorted(used.shares.items(), key=lambda item: -item[1])
    return ", ".join(f"{_role_label(role)} {share:.0%}" for role, share in roles) + f", idle {used.idle:.0%}"


def cpu_runs(serving: ServingReport) -> list[tuple[str, CpuSplit, float, float, float]]:
    """Every run with its split: (label, split, model's share, model cost per text served / at the bound, ratio).

    The model's share counts the stubs of the ensemble's steps but the tokenizer (a one-step model's stubs, which
    tokenize too); at the bound the model has every
    core, so its cost per text there is the cores over the bound's throughput (the cores cancel in the ratio).
    """
    runs = []
    for v in serving.variants:
        names = ModelNames(v.model)
        for c in v.corpora:
            measured = [(f"c{r.concurrency}", used, r.throughput, c.ceiling.texts_per_s)
                        for r, used in zip(c.levels, c.cpu)]
            if c.bulk and c.bulk.cpu:
                measured.append((f"bulk ({c.bulk.texts})", c.bulk.cpu, c.bulk.texts_per_s, c.bulk.bound.texts_per_s))
            for label, used, throughput, bound in measured:
                # A one-step model's stubs are named NAME (its share includes the tokenizing: not split).
                share = (used.share(f"{names.base}_") - used.shares.get(names.tokenizer, 0.0)
                         + used.shares.get(names.ensemble, 0.0))
                runs.append((f"{v.variant} {c.corpus} {label}", used, share, share * bound / throughput,
                             throughput / bound))
    return runs


def _cpu_table(serving: ServingReport) -> list[str]:
    """Who used the cores at each level and in bulk, and what the model's share allows served/ceiling to reach."""
    rows = [f"| {label} | {describe_split(used)} | {share:.2f} | {cost:.2f} | {ratio:.2f} |"
            for label, used, share, cost, ratio in cpu_runs(serving)]
    if not rows:
        return []
    return ["| run | share of the cores | model's share | model cost per text × bound | served / bound |",
            "|---|---|---:|---:|---:|", *rows, "",
            "The in-process bound (the ceiling; for bulk, the bulk bound) runs the model on every core. Served, the "
            "model's instances get only their share; the rest goes to the tokenizer, Triton (HTTP/gRPC front end, "
            "ensemble, Python-backend transport), the load generator (perf_analyzer or `client predict`) and other "
            "processes. served / bound = model's share ÷ (model cost per text × bound).", ""]


def _role_label(role: str) -> str:
    """A model's step name (``minilm_fp32_onnx`` → ``onnx``); other roles as they are."""
    return role.rsplit("_", 1)[-1] if "_" in role else role


def write(serving: ServingReport) -> None:
    """``summary.json``, ``summary.md`` and the plots: ``throughput.png``, ``throughput_vs_p99.png``,
    ``latency_breakdown.png`` and ``cpu_split.png``."""
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
    if any(c.cpu for v in serving.variants for c in v.corpora):
        plot_cpu_split(serving, folder / "cpu_split.png")


def plot_cpu_split(serving: ServingReport, path: Path) -> None:
    """One stacked bar per run: each role's share of the cores, with served / bound written beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = cpu_runs(serving)
    roles = sorted({_role_label(role) for _, used, *_ in runs for role in used.shares} | {"idle"},
                   key=lambda role: (role == "idle", role == "other", role != "onnx", role))
    figure, axes = plt.subplots(figsize=(8.0, 0.32 * len(runs) + 1.6))
    left = [0.0] * len(runs)
    for role in roles:
        values = [used.idle if role == "idle" else sum(v for r, v in used.shares.items() if _role_label(r) == role)
                  for _, used, *_ in runs]
        axes.barh(range(len(runs)), values, left=left, label=role, color="0.9" if role == "idle" else None)
        left = [a + b for a, b in zip(left, values)]
    for index, (*_, ratio) in enumerate(runs):
        axes.text(1.01, index, f"{ratio:.2f}", va="center", fontsize=7)
    axes.set_yticks(range(len(runs)), [label for label, *_ in runs], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlim(0, 1.08)
    axes.set_xlabel("share of the machine's cores (right: served / in-process bound)")
    axes.set_title("Who used the cores while serving", fontsize=10)
    axes.legend(fontsize=7, ncol=len(roles), loc="upper center", bbox_to_anchor=(0.5, -0.12 - 1.0 / len(runs)))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


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

