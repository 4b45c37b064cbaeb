"""CPU serving benchmark: the bundled MiniLM through the local Triton vs in-process ONNX Runtime, in one run.

    .venv/bin/python -m benchmarks.serving [--quick] [--variants fp32,optimize,int8,optimize+int8]

For each variant: export for CPU into a temporary repository, measure in-process ONNX Runtime on the same
``model.onnx`` and the same 512 texts (the ceiling: best of batch 1 at natural lengths and bucketed batches),
start the local Triton, drive the text ensemble with perf_analyzer (client batch 1, concurrency 1/4/16), and
stop it. Prints a table with served/in-process at c16, p50/p99 per concurrency and the export's cosines;
writes JSON, markdown and PNG plots into ``benchmarks/results/serving-<time>/`` (perf_analyzer's own CSV
and plots per variant in subfolders). Serving knobs (``--pad-to-multiple-of`` ...) default to the
exporter's defaults for ``--instance-kind cpu``. About 4 minutes in full, about 1 minute with ``--quick``
(fp32 and int8, short windows). Machine load from other processes is sampled and reported.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks import serving_report as report
from benchmarks.inprocess import encoder_for, measure
from benchmarks.machine import cpu_busy, describe_machine
from benchmarks.tuning import Tuning, apply_tuning, batching_settings, export_knobs
from client.bench import run_bench
from client.corpus import corpus
from client.perf_analyzer import LoadLevel, PerfSettings
from client.text_client import TextClient
from export.pipeline import ExportResult, run_export
from export.settings import Acceleration, ExportSettings
from export.verify import row_cosines
from server.local import LocalTriton
from tritonize.repo_format.files import ONNX_FILENAME

#: Variants of issue #7, by the name used on the command line and in tables.
VARIANTS: dict[str, Acceleration] = {
    "fp32": Acceleration(),
    "optimize": Acceleration(optimize=True),
    "int8": Acceleration(quantize="int8"),
    "optimize+int8": Acceleration(optimize=True, quantize="int8"),
}


@dataclass(frozen=True)
class Plan:
    """What one benchmark run measures and how long it looks.

    Attributes:
        variants: Names from :data:`VARIANTS`, in order.
        model: Model to export; ``None`` is the bundled all-MiniLM-L6-v2.
        name: Base name of the exported models (``<name>_<variant>``).
        concurrency: perf_analyzer load levels (requests in flight, one text each).
        texts: Corpus size (real English sentences).
        measurement_interval_ms: perf_analyzer window.
        stability_percentage: Windows must agree within this.
        max_trials: Windows tried before perf_analyzer gives up on stability.
        protocol: ``http`` or ``grpc``.
        batch_sizes: In-process batch sizes tried with the served padding.
        sorted_batch_size: In-process batch size of the offline bound (texts sorted by length); 0 skips it.
        repeats: In-process passes per configuration (the best counts).
        tuning: Serving knobs; unset ones keep the exporter's defaults.
    """

    variants: tuple[str, ...] = ("fp32", "optimize", "int8", "optimize+int8")
    model: str | None = None
    name: str = "minilm"
    concurrency: tuple[int, ...] = (1, 4, 16)
    texts: int = 512
    measurement_interval_ms: int = 2500
    stability_percentage: int = 15
    max_trials: int = 6
    protocol: str = "http"
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    sorted_batch_size: int = 16
    repeats: int = 2
    tuning: Tuning = field(default_factory=Tuning)

    @classmethod
    def quick(cls, **changes: object) -> Plan:
        """fp32 and int8 with short windows: about a minute."""
        quick = cls(variants=("fp32", "int8"), measurement_interval_ms=1200, stability_percentage=25, max_trials=4,
                    batch_sizes=(8,), sorted_batch_size=0, repeats=1)
        return replace(quick, **changes)


def export_variant(variant: str, repository: Path, plan: Plan) -> ExportResult:
    """Export ``plan.model`` as ``variant`` for CPU into ``repository``, with ``plan.tuning`` applied."""
    settings = ExportSettings(
        model=plan.model, repository=repository, name=f"{plan.name}_{variant.replace('+', '_')}",
        formats=("onnx",), instance_kind="cpu",
        batching=batching_settings(plan.tuning), acceleration=VARIANTS[variant],
        instance_count=plan.tuning.instance_count,  # None: the exporter's CPU default
        **export_knobs(plan.tuning),
        release_check=False,  # the benchmark runs the local ONNX Runtime; the exporter's tests check releases
    )
    result = run_export(settings)
    apply_tuning(repository, result.names, plan.tuning)
    return result


def inprocess(result: ExportResult, texts: Sequence[str], plan: Plan) -> list[report.CeilingPoint]:
    """In-process ONNX Runtime on the served ``model.onnx``, all CPUs, texts in corpus order.

    Batch 1 at natural lengths and ``plan.batch_sizes`` with the served padding; then the offline bound:
    natural lengths, the whole corpus sorted by length (no server sees all texts at once).
    """
    encoder = encoder_for(result.repository, result.names.base)
    served_multiple = encoder.pad_to_multiple_of
    model = model_path(result)
    bucketed = tuple(b for b in plan.batch_sizes if served_multiple > 1 or b != 1)
    runs = [(1, (1,), False), (served_multiple, bucketed, False)]
    if plan.sorted_batch_size:
        runs.append((1, (plan.sorted_batch_size,), True))
    points = []
    for multiple, sizes, by_length in runs:
        encoder.pad_to_multiple_of = multiple
        ordered = sorted(texts, key=lambda t: len(encoder.tokenizer.encode(t).ids)) if by_length else list(texts)
        for measured in measure(model, encoder, ordered, sizes, repeats=plan.repeats):
            points.append(report.CeilingPoint(measured.batch_size, multiple, measured.sentences_per_s, by_length))
    return points


def model_path(result: ExportResult) -> Path:
    """The served ``model.onnx`` of an export."""
    return result.repository / result.names.artifact("onnx") / str(result.version) / ONNX_FILENAME


def corpus_cosines(result: ExportResult, reference: Path, texts: Sequence[str]) -> tuple[float, float]:
    """Min and mean cosine of the first output against ``reference`` (the fp32 export) on every corpus text."""
    import numpy as np
    import onnxruntime as ort

    encoder = encoder_for(result.repository, result.names.base)
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


def serve(result: ExportResult, texts: Sequence[str], plan: Plan, folder: Path,
          on_level: Callable[[str, LoadLevel, report.LevelResult], None] | None = None) -> list[report.LevelResult]:
    """Start the local Triton on the variant's repository and sweep its ensemble with perf_analyzer."""
    levels = [LoadLevel(concurrency=c) for c in plan.concurrency]
    with LocalTriton(result.repository) as server:
        url = server.http_url if plan.protocol == "http" else server.grpc_url
        settings = PerfSettings(url=url, protocol=plan.protocol, measurement_interval_ms=plan.measurement_interval_ms,
                                stability_percentage=plan.stability_percentage, max_trials=plan.max_trials)
        with TextClient(url, plan.protocol) as client:
            bench = run_bench(client, [result.names.ensemble], levels, settings, texts, None, folder, on_level)
    return list(bench.results)


def run(plan: Plan, output_root: Path, say: Callable[[str], None] = lambda _: None) -> report.ServingReport:
    """Measure every variant of ``plan``; write JSON, markdown and plots into a new folder under ``output_root``."""
    started = time.perf_counter()
    texts = corpus(plan.texts)
    folder = output_root / time.strftime("serving-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=False)
    variants = []
    reference: Path | None = None  # the fp32 model, for the corpus cosines of the other variants
    with tempfile.TemporaryDirectory(prefix="tritonize-serving-") as tmp:
        for index, variant in enumerate(plan.variants, 1):
            tag = f"[{index}/{len(plan.variants)} {variant}]"
            say(f"{tag} exporting for CPU …")
            result = export_variant(variant, Path(tmp) / variant.replace("+", "_"), plan)
            if variant == "fp32":
                reference = model_path(result)
            cosines = corpus_cosines(result, reference, texts) if reference and variant != "fp32" else None
            if cosines:
                say(f"{tag} cosine vs fp32 on {len(texts)} texts: min {cosines[0]:.4f}, mean {cosines[1]:.4f}")
            busy_before = cpu_busy()
            say(f"{tag} in-process ONNX Runtime on {len(texts)} texts (CPU busy before: {busy_before:.0%}) …")
            points = inprocess(result, texts, plan)
            for point in points:
                say(f"{tag}   {point.label}: {point.sentences_per_s:.0f} sentences/s")
            say(f"{tag} serving with the local Triton, perf_analyzer at "
                f"{', '.join(f'c{c}' for c in plan.concurrency)} …")
            levels = serve(result, texts, plan, folder / "perf_analyzer", lambda _, level, r, tag=tag: say(
                f"{tag}   {level.label}: {r.throughput:.0f} infer/s, p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms"))
            variants.append(report.variant_result(variant, result, points, levels, busy_before, cosines))
    serving = report.ServingReport(tuple(variants), folder, {
        **describe_machine(), "plan": report.plain(plan), "texts": len(texts), "seconds": time.perf_counter() - started,
    })
    report.write(serving)
    return serving


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run, print the table and where the files are."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fp32 and int8 with short windows (about a minute).")
    parser.add_argument("--variants", help=f"Comma-separated, from: {', '.join(VARIANTS)}.")
    parser.add_argument("--concurrency", help="perf_analyzer levels, e.g. 1,4,16.")
    parser.add_argument("--protocol", choices=("http", "grpc"), default="http")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    Tuning.add_arguments(parser)
    args = parser.parse_args(argv)
    changes: dict[str, object] = {"protocol": args.protocol, "tuning": Tuning.from_arguments(args)}
    if args.variants:
        unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
        if unknown:
            parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
        changes["variants"] = tuple(args.variants.split(","))
    if args.concurrency:
        changes["concurrency"] = tuple(int(c) for c in args.concurrency.split(","))
    plan = Plan.quick(**changes) if args.quick else replace(Plan(), **changes)
    result = run(plan, args.output_dir, lambda line: print(line, file=sys.stderr, flush=True))
    print(report.markdown(result))
    print(result.folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
