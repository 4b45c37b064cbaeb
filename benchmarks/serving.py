"""CPU serving benchmark: the bundled MiniLM served by the local Triton against this machine's in-process ceiling.

    .venv/bin/python -m benchmarks.serving [--quick] [--variant fp32 --variant int8] [--corpus short --corpus long]

For each variant (fp32, int8, ...): export for CPU into a temporary repository; then for each corpus (short
sentences, paragraph-length texts):

- **ceiling**: in-process ONNX Runtime on the same ``model.onnx`` and texts, the best of every sessions × threads
  × batch-size layout (see :mod:`benchmarks.ceiling`), texts in corpus order and padded as the served
  tokenizer pads a request;
- **served**: the text ensemble on the local Triton driven by perf_analyzer (one text per request) at each
  concurrency, with each ensemble step's queue and compute from Triton's statistics;
- **bulk**: ``client predict --file … --jsonl`` end to end (start-up and writing JSONL included) against the
  in-process bulk bound on the same texts (best layout, texts sorted by length).

Prints one table with every number as a ratio to the ceiling and writes JSON, markdown and PNG plots into
``benchmarks/results/serving-<time>/``. Machine load from other processes is sampled and reported, and at each
level who used the cores (each model's stubs, Triton itself, the load generator, the rest; see
:mod:`benchmarks.cpu_split`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import click

from benchmarks import cpu_split, inprocess
from benchmarks import serving_report as report
from benchmarks.machine import cpu_busy, describe_machine
from benchmarks.tuning import Tuning, apply_tuning, batching_settings, defaulted_batching, export_knobs
from client.bench import run_bench
from client.corpus import corpus, paragraphs
from client.perf_analyzer import LoadLevel, PerfSettings
from client.text_client import TextClient
from export.pipeline import ExportResult, run_export
from export.settings import Acceleration, ExportSettings, QueuePolicy, Serving
from export.verify import row_cosines
from server.local import LocalTriton
from tritonize.repo_format.files import ONNX_FILENAME

#: Variants by the name used on the command line and in tables.
VARIANTS: dict[str, Acceleration] = {
    "fp32": Acceleration(),
    "optimize": Acceleration(optimize=True),
    "int8": Acceleration(quantize="int8"),
    "optimize+int8": Acceleration(optimize=True, quantize="int8"),
}

#: Corpora by name: short sentences (median ~17 tokens) and paragraphs (~100–300 tokens).
CORPORA: dict[str, Callable[[int], list[str]]] = {"short": corpus, "long": paragraphs}


@dataclass(frozen=True)
class Plan:
    """What one benchmark run measures and how long it looks.

    Attributes:
        variants: Names from :data:`VARIANTS`, in order.
        corpora: Names from :data:`CORPORA`, in order.
        model: Model to export; ``None`` is the bundled all-MiniLM-L6-v2.
        name: Base name of the exported models (``<name>_<variant>``).
        concurrency: perf_analyzer load levels (requests in flight, one text each).
        texts: Texts per corpus for the ceiling and perf_analyzer.
        bulk_texts: Texts per corpus for the bulk run (0 skips it).
        measurement_interval_ms: perf_analyzer window.
        stability_percentage: Windows must agree within this.
        max_trials: Windows tried before perf_analyzer gives up on stability.
        protocol: ``http`` or ``grpc``.
        batch_sizes: In-process batch sizes tried for every layout.
        layouts: In-process (sessions, threads) tried; empty: every layout that uses all cores.
        repeats: In-process passes per configuration (the best counts).
        queue_timeout_ms: The models' queue timeout. The exporter's 1 s (load shedding, README "Reliability")
            refuses requests of the deepest levels on long texts (fp32 c32: over a second in the queue), which
            ends perf_analyzer's run; 0 lets every level finish, the throughput being what is measured.
        tuning: Serving knobs; unset ones keep the exporter's defaults.
    """

    variants: tuple[str, ...] = ("fp32", "int8")
    corpora: tuple[str, ...] = ("short", "long")
    model: str | None = None
    name: str = "minilm"
    concurrency: tuple[int, ...] = (1, 4, 16, 32)
    texts: int = 512
    bulk_texts: dict[str, int] = field(default_factory=lambda: {"short": 10_000, "long": 1_000})
    measurement_interval_ms: int = 2500
    stability_percentage: int = 15
    max_trials: int = 6
    protocol: str = "http"
    batch_sizes: tuple[int, ...] = inprocess.DEFAULT_BATCH_SIZES
    layouts: tuple[tuple[int, int], ...] = ()
    repeats: int = 2
    queue_timeout_ms: int = 0
    tuning: Tuning = field(default_factory=Tuning)

    @classmethod
    def quick(cls, **changes: object) -> Plan:
        """fp32 and int8, short windows, fewer texts: a few minutes."""
        quick = cls(texts=256, bulk_texts={"short": 2_000, "long": 200}, concurrency=(1, 16),
                    measurement_interval_ms=1200, stability_percentage=25, max_trials=4, batch_sizes=(1, 8),
                    repeats=1)
        return replace(quick, **changes)


def export_variant(variant: str, repository: Path, plan: Plan, serving: Serving | None = None) -> ExportResult:
    """Export ``plan.model`` as ``variant`` for CPU into ``repository``, with ``plan.tuning`` applied.

    ``serving``: the exporter's default path when ``None`` (the one-step model for CPU); ``ensemble`` adds
    ``_ensemble`` to the name, so both paths can sit in one repository.
    """
    suffix = "_ensemble" if serving == "ensemble" else ""
    settings = ExportSettings(
        model=plan.model, repository=repository, name=f"{plan.name}_{variant.replace('+', '_')}{suffix}",
        serving=serving,
        formats=("onnx",), instance_kind="cpu",
        batching=batching_settings(plan.tuning), defaulted=defaulted_batching(plan.tuning),
        acceleration=VARIANTS[variant],
        instance_count=plan.tuning.instance_count,  # None: the exporter's CPU default
        **export_knobs(plan.tuning), queue=replace(QueuePolicy(), timeout_ms=plan.queue_timeout_ms),
        release_check=False,  # the benchmark runs the local ONNX Runtime; the exporter's tests check releases
    )
    result = run_export(settings)
    apply_tuning(repository, result.names, plan.tuning)
    return result


def model_path(result: ExportResult) -> Path:
    """The served ``model.onnx`` of an export (in the one-step model's folder, or the ONNX model's)."""
    model = result.names.ensemble if result.serving.one_step else result.names.artifact("onnx")
    return result.repository / model / str(result.version) / ONNX_FILENAME


def corpus_cosines(result: ExportResult, reference: Path, texts: Sequence[str]) -> tuple[float, float]:
    """Min and mean cosine of the first output against ``reference`` (the fp32 export) on every corpus text."""
    import numpy as np
    import onnxruntime as ort

    encoder = inprocess.encoder_for(result.repository, result.names.base)
    encoder.pad_to_multiple_of = 1
    ordered = sorted(texts, key=lambda t: len(encoder.tokenizer.encode(t).ids))
    sessions = [ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                for path in (model_path(result), reference)]
    names = [i.name for i in sessions[0].get_inputs()]
    cosines = []
    for start in range(0, len(ordered), 16):
        arrays = encoder.encode(ordered[start:start + 16])
        got, want = (s.run(None, {n: arrays[n] for n in names})[0] for s in sessions)
        cosines.append(row_cosines(want, got))
    values = np.concatenate(cosines)
    return float(values.min()), float(values.mean())


def serve(server: LocalTriton, result: ExportResult, texts: Sequence[str], plan: Plan, folder: Path,
          on_level: Callable[[str, LoadLevel, report.LevelResult], None] | None = None,
          on_failure: Callable[[report.FailedLevel], None] | None = None,
          ) -> tuple[list[report.LevelResult], list[cpu_split.CpuSplit], list[report.FailedLevel]]:
    """Sweep the variant's ensemble on a running local Triton with perf_analyzer; who used the cores per level.

    A level perf_analyzer fails on (its windows never agreed, a request timed out) is recorded and the sweep goes
    on, so one noisy level does not cost the whole run.
    """
    levels = [LoadLevel(concurrency=c) for c in plan.concurrency]
    url = server.http_url if plan.protocol == "http" else server.grpc_url
    settings = PerfSettings(url=url, protocol=plan.protocol, measurement_interval_ms=plan.measurement_interval_ms,
                            stability_percentage=plan.stability_percentage, max_trials=plan.max_trials)
    splits: list[cpu_split.CpuSplit] = []
    failures: list[report.FailedLevel] = []
    meter = cpu_split.Meter(server.pid or 0)

    def measured(model: str, level: LoadLevel, level_result: report.LevelResult) -> None:
        splits.append(meter.lap())
        if on_level:
            on_level(model, level, level_result)

    def failed(model: str, level: LoadLevel, error: Exception) -> None:
        failures.append(report.FailedLevel(level.concurrency or 0, str(error)))
        meter.lap()  # the next level's split starts after the failed one
        if on_failure:
            on_failure(failures[-1])

    with TextClient(url, plan.protocol) as client:
        bench = run_bench(client, [result.names.ensemble], levels, settings, texts, None, folder, measured, failed)
    return list(bench.results), splits, failures


def bulk(server: LocalTriton, result: ExportResult, texts: Sequence[str], plan: Plan,
         folder: Path) -> tuple[float, cpu_split.CpuSplit]:
    """Seconds ``client predict --file … --jsonl`` takes for ``texts``, end to end in its own process, and who
    used the cores meanwhile (the client is the load generator).

    Raises:
        RuntimeError: The client failed or wrote fewer records than texts.
    """
    source, target = folder / "bulk-input.txt", folder / "bulk-output.jsonl"
    source.write_text("\n".join(texts) + "\n")
    url = server.http_url if plan.protocol == "http" else server.grpc_url
    command = [sys.executable, "-m", "client", "--url", url, "--protocol", plan.protocol, "predict",
               "--model", result.names.ensemble, "--file", str(source), "--jsonl"]
    meter, start = cpu_split.Meter(server.pid or 0), time.perf_counter()
    with target.open("w") as out:
        finished = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    used = meter.lap()
    records = sum(1 for _ in target.open())
    if finished.returncode != 0 or records != len(texts):
        raise RuntimeError(f"client predict failed ({records} of {len(texts)} records): {finished.stderr.strip()}")
    target.unlink()
    return seconds, used


def measure_corpus(server: LocalTriton, result: ExportResult, corpus_name: str, plan: Plan, folder: Path,
                   say: Callable[[str], None]) -> report.CorpusResult:
    """Ceiling, served levels and bulk of one variant on one corpus."""
    texts = CORPORA[corpus_name](plan.texts)
    encoder = inprocess.encoder_for(result.repository, result.names.base)
    model = model_path(result)
    busy = cpu_busy()
    say(f"  {corpus_name}: in-process ceiling on {len(texts)} texts (CPU busy before: {busy:.0%}) …")
    points = inprocess.sweep(model, encoder, texts, plan.layouts or None, plan.batch_sizes, plan.repeats,
                             bulk_batch_size=0)
    for point in points:
        say(f"    {point.label}: {point.texts_per_s:.0f} texts/s")
    best = inprocess.ceiling(points)
    say(f"  {corpus_name}: served, perf_analyzer at {', '.join(f'c{c}' for c in plan.concurrency)} …")
    levels, splits, failed = serve(
        server, result, texts, plan, folder / "perf_analyzer" / corpus_name,
        lambda _, level, r: say(f"    {level.label}: {r.throughput:.0f} infer/s ({r.throughput / best.texts_per_s:.2f}"
                                f" of the ceiling), p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms"),
        lambda failure: say(f"    c{failure.concurrency}: not measured, {failure.reason}"))
    for level, used in zip(levels, splits):
        say(f"    c{level.concurrency} cores: {report.describe_split(used)}")
    bulk_result = None
    count = plan.bulk_texts.get(corpus_name, 0)
    if count:
        bulk_texts = CORPORA[corpus_name](count)
        say(f"  {corpus_name}: bulk, client predict --file on {count} texts …")
        seconds, used = bulk(server, result, bulk_texts, plan, folder)
        bound = inprocess.measure_layout(model, encoder, bulk_texts, best.sessions, best.threads,
                                         max(plan.batch_sizes), repeats=1, sorted_by_length=True)
        bulk_result = report.BulkResult(count, seconds, bound, used)
        say(f"    {count / seconds:.0f} texts/s end to end; in-process bulk bound {bound.texts_per_s:.0f} texts/s "
            f"({bound.label}) → {bulk_result.ratio:.2f}; cores: {report.describe_split(used)}")
    return report.CorpusResult(corpus_name, tuple(points), tuple(levels), bulk_result, busy, tuple(splits),
                               tuple(failed))


def run(plan: Plan, output_root: Path, say: Callable[[str], None] = lambda _: None) -> report.ServingReport:
    """Measure every variant of ``plan``; write JSON, markdown and plots into a new folder under ``output_root``."""
    started = time.perf_counter()
    folder = output_root / time.strftime("serving-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=False)
    variants = []
    reference: Path | None = None  # the fp32 model, for the corpus cosines of the other variants
    with tempfile.TemporaryDirectory(prefix="tritonize-serving-") as tmp:
        for index, variant in enumerate(plan.variants, 1):
            say(f"[{index}/{len(plan.variants)} {variant}] exporting for CPU …")
            result = export_variant(variant, Path(tmp) / variant.replace("+", "_"), plan)
            if variant == "fp32":
                reference = model_path(result)
            cosines = corpus_cosines(result, reference, corpus(plan.texts)) if reference and variant != "fp32" \
                else None
            if cosines:
                say(f"  cosine vs fp32 on {plan.texts} short texts: min {cosines[0]:.4f}, mean {cosines[1]:.4f}")
            with LocalTriton(result.repository) as server:
                corpora = [measure_corpus(server, result, name, plan, folder / variant.replace("+", "_"), say)
                           for name in plan.corpora]
            variants.append(report.variant_result(variant, result, corpora, cosines))
    serving = report.ServingReport(tuple(variants), folder, {
        **describe_machine(), "plan": report.plain(plan), "seconds": time.perf_counter() - started,
    })
    report.write(serving)
    return serving


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--quick", is_flag=True, help="fp32 and int8, short windows, fewer texts (a few minutes).")
@click.option("--variant", "variants", type=click.Choice(list(VARIANTS)), multiple=True,
              help="Variant to measure; repeat for several [default: fp32, int8].")
@click.option("--corpus", "corpora", type=click.Choice(list(CORPORA)), multiple=True,
              help="Corpus to measure; repeat for both [default: short, long].")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), multiple=True,
              help="perf_analyzer level; repeat for several [default: 1, 4, 16, 32].")
@click.option("--protocol", type=click.Choice(["http", "grpc"]), default="http")
@click.option("--text-count", "texts", type=click.IntRange(min=16),
              help="Texts per corpus [default: 512, 256 with --quick].")
@click.option("--bulk-texts", type=click.IntRange(min=0),
              help="Texts of the bulk run, both corpora (0 skips it) [default: 10000 short, 1000 long].")
@click.option("--measurement-interval", type=click.IntRange(min=100),
              help="perf_analyzer window in ms [default: 2500, 1200 with --quick].")
@click.option("--stability-percentage", type=click.IntRange(min=1),
              help="perf_analyzer windows must agree within this [default: 15, 25 with --quick].")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("benchmarks/results"))
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr; only the table and the result folder.")
@Tuning.click_options
def main(quick: bool, variants: tuple[str, ...], corpora: tuple[str, ...], concurrency: tuple[int, ...],
         protocol: str, texts: int | None, bulk_texts: int | None, measurement_interval: int | None,
         stability_percentage: int | None, output_dir: Path, quiet: bool, **knobs: object) -> None:
    """Serve the bundled MiniLM with the local Triton and compare it with the machine's in-process ceiling."""
    changes: dict[str, object] = {"protocol": protocol, "tuning": Tuning.from_options(knobs)}
    if texts:
        changes["texts"] = texts
    if bulk_texts is not None:
        changes["bulk_texts"] = dict.fromkeys(CORPORA, bulk_texts)
    if measurement_interval:
        changes["measurement_interval_ms"] = measurement_interval
    if stability_percentage:
        changes["stability_percentage"] = stability_percentage
    for name, value in (("variants", variants), ("corpora", corpora), ("concurrency", concurrency)):
        if value:
            changes[name] = tuple(value)
    plan = Plan.quick(**changes) if quick else replace(Plan(), **changes)
    result = run(plan, output_dir, (lambda line: None) if quiet else (lambda line: click.echo(line, err=True)))
    click.echo(report.markdown(result))
    click.echo(result.folder)


if __name__ == "__main__":
    main()
