"""``client bench``: sweep load levels with perf_analyzer on real text and write tables and plots."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from client import bench_report
from client.corpus import corpus
from client.errors import PerfAnalyzerError, UsageProblem
from client.perf_analyzer import (
    LoadLevel,
    PerfSettings,
    image_input_data,
    sweep,
    tensor_input_data,
    text_input_data,
)
from client.server_stats import stage_times
from client.text_client import TextClient
from client.tokenizing import load_encoder
from tritonize.repo_format.image_preprocessing import IMAGE_INPUT

DEFAULT_CONCURRENCY = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class BenchResult:
    """What one ``client bench`` run measured and where it wrote it."""

    folder: Path
    results: tuple[bench_report.LevelResult, ...]
    text_count: int
    median_words: float


def parse_levels(concurrency: str | None, request_rate: str | None) -> list[LoadLevel]:
    """Load levels from ``1,2,4`` lists; request rates win when both are given.

    Raises:
        UsageProblem: A value is not a positive number.
    """
    try:
        if request_rate:
            rates = [float(v) for v in request_rate.split(",") if v.strip()]
            if all(r > 0 for r in rates) and rates:
                return [LoadLevel(request_rate=r) for r in rates]
        else:
            levels = [int(v) for v in (concurrency or "").split(",") if v.strip()] or list(DEFAULT_CONCURRENCY)
            if all(c > 0 for c in levels):
                return [LoadLevel(concurrency=c) for c in levels]
    except ValueError:
        pass
    raise UsageProblem(f"Load levels must be positive numbers separated by commas, not "
                       f"'{request_rate or concurrency}'")


def input_data(client: TextClient, model: str, texts: Sequence[str], tokenizer: Path | None,
               images: Sequence[bytes] | None = None) -> dict:
    """perf_analyzer input for ``model``: texts, their token tensors (tensor models) or images (image ensembles).

    Token tensors are padded exactly as the tokenizer model pads a request of one text.

    Raises:
        UsageProblem: A tensor model without ``--tokenizer``, an image ensemble without images, or a model that
            takes neither.
    """
    interface = client.interface(model)
    if [t.name for t in interface.inputs] == [IMAGE_INPUT]:
        if not images:
            raise UsageProblem(f"Model '{model}' takes images: pass --images PATH (files or directories)")
        return image_input_data(IMAGE_INPUT, images)
    if interface.takes_text:
        return text_input_data(interface.inputs[0].name, texts)
    if not interface.takes_tokens:
        raise UsageProblem(f"Model '{model}' takes neither text nor token tensors; bench cannot feed it")
    if tokenizer is None:
        raise UsageProblem(f"Model '{model}' takes token tensors: pass --tokenizer PATH (its NAME_tokenizer "
                           f"model folder or a tokenizer.json)")
    encoder = load_encoder(tokenizer)
    encoder.output_names = [spec.name for spec in interface.inputs]
    requests = []
    for text in texts:
        arrays = encoder.encode([text])
        requests.append({spec.name: arrays[spec.name].astype(spec.numpy_dtype) for spec in interface.inputs})
    return tensor_input_data(requests)


def run_bench(client: TextClient, models: Sequence[str], levels: Sequence[LoadLevel], settings: PerfSettings,
              texts: Sequence[str] | None, tokenizer: Path | None, output_root: Path,
              on_level: Callable[[str, LoadLevel, bench_report.LevelResult], None] | None = None,
              on_failure: Callable[[str, LoadLevel, PerfAnalyzerError], None] | None = None,
              images: Sequence[bytes] | None = None) -> BenchResult:
    """Measure each model at each level and write CSV, JSON, markdown and both plots into a new folder.

    A level perf_analyzer fails on goes to ``on_failure`` and is left out (see :func:`client.perf_analyzer.sweep`);
    without it the first failure raises :class:`PerfAnalyzerError`.
    """
    texts = list(texts) if texts else corpus(512)
    # Every model's input first: a missing model or tokenizer fails before anything is measured or written.
    inputs = {model: input_data(client, model, texts, tokenizer, images) for model in models}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = output_root / f"{'-vs-'.join(models)}-{stamp}"
    folder.mkdir(parents=True, exist_ok=False)
    raw_rows: list[tuple[str, dict[str, float]]] = []
    results: list[bench_report.LevelResult] = []
    for model, data in inputs.items():
        stages = client.stages(model)
        counters = {"before": client.counters(stages)}

        def report(level: LoadLevel, row: dict[str, float], model: str = model, stages: list[str] = stages,
                   counters: dict = counters) -> None:
            after = client.counters(stages)
            result = bench_report.level_result(model, row, stage_times(counters["before"], after))
            counters["before"] = after
            results.append(result)
            if on_level:
                on_level(model, level, result)

        def failed(level: LoadLevel, error: PerfAnalyzerError, model: str = model, stages: list[str] = stages,
                   counters: dict = counters) -> None:
            counters["before"] = client.counters(stages)  # the next level's steps start after the failed one
            if on_failure:
                on_failure(model, level, error)

        for row in sweep(model, levels, settings, data, folder / "raw", on_level=report,
                         on_failure=failed if on_failure else None):
            raw_rows.append((model, row))
    if not results:
        raise PerfAnalyzerError(f"perf_analyzer failed at every level ({', '.join(level.label for level in levels)}); "
                                "nothing was measured")
    words = float(np.median([len(t.split()) for t in texts]))
    title = f"{', '.join(models)} · {settings.protocol} · batch {settings.batch_size}"
    bench_report.write_csv(raw_rows, folder / "perf_analyzer.csv")
    bench_report.write_json(results, {
        "models": list(models), "protocol": settings.protocol, "url": settings.url,
        "batch_size": settings.batch_size, "texts": len(texts), "median_words": words,
        "measurement_interval_ms": settings.measurement_interval_ms,
    }, folder / "summary.json")
    (folder / "summary.md").write_text(
        f"# {title}\n\n{len(texts)} texts, median {words:g} words.\n\n" + bench_report.markdown_table(results))
    bench_report.plot_throughput_latency(results, folder / "throughput_vs_p99.png", title)
    bench_report.plot_latency_breakdown(results, folder / "latency_breakdown.png", title)
    return BenchResult(folder, tuple(results), len(texts), words)
