"""Benchmark results as people read them: sorted CSV, JSON summary, markdown table and PNG plots."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from client.server_stats import StageTime

US_PER_MS = 1000.0


@dataclass(frozen=True)
class LevelResult:
    """One load level of one model, in requests/s and milliseconds.

    Attributes:
        model: The model measured.
        concurrency: Requests in flight (0 when driven by request rate).
        request_rate: Requests per second asked for, when driven by rate.
        throughput: Inferences per second.
        p50_ms: Median latency.
        p90_ms: 90th percentile latency.
        p99_ms: 99th percentile latency.
        avg_ms: Mean latency.
        client_ms: Client send/receive and network time; for an ensemble, everything its steps do not account
            for (client, network, the HTTP/gRPC front end and the hand-offs between steps).
        queue_ms: Time requests waited in the server's queues (for an ensemble, summed over its steps).
        compute_ms: Server compute (input, infer, output; for an ensemble, summed over its steps).
        stages: Per-model queue and compute from Triton's statistics (an ensemble's steps, in order).
    """

    model: str
    concurrency: int
    request_rate: float | None
    throughput: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    avg_ms: float
    client_ms: float
    queue_ms: float
    compute_ms: float
    stages: tuple[StageTime, ...] = ()


def level_result(model: str, row: dict[str, float], stages: Sequence[StageTime] = ()) -> LevelResult:
    """Convert one perf_analyzer CSV row (µs) into a :class:`LevelResult` (ms).

    With ``stages`` of an ensemble (more than one model), queue and compute are the sums over its steps, read
    from Triton's statistics, because perf_analyzer's top-level row does not include the steps' queues; the
    rest of the mean latency is the client's, the network's, the front end's and the hand-offs between steps.
    """
    ms = {key: value / US_PER_MS for key, value in row.items()}
    avg = ms.get("Avg latency", 0.0)
    if len(stages) > 1:
        queue = sum(stage.queue_ms for stage in stages)
        compute = sum(stage.compute_ms for stage in stages)
        client = max(avg - queue - compute, 0.0)
    else:
        queue = ms.get("Server Queue", 0.0)
        compute = sum(ms.get(f"Server Compute {part}", 0.0) for part in ("Input", "Infer", "Output"))
        client = sum(ms.get(key, 0.0) for key in ("Client Send", "Network+Server Send/Recv", "Client Recv"))
    return LevelResult(
        model=model,
        concurrency=int(row.get("Concurrency", 0)),
        request_rate=row.get("Request Rate"),
        throughput=row["Inferences/Second"],
        p50_ms=ms.get("p50 latency", 0.0),
        p90_ms=ms.get("p90 latency", 0.0),
        p99_ms=ms.get("p99 latency", 0.0),
        avg_ms=avg,
        client_ms=client,
        queue_ms=queue,
        compute_ms=compute,
        stages=tuple(stages),
    )


def write_csv(rows: Sequence[tuple[str, dict[str, float]]], path: Path) -> None:
    """perf_analyzer's rows of every model, with a model column, sorted by model then load level."""
    ordered = sorted(rows, key=lambda item: (item[0], item[1].get("Concurrency", 0), item[1].get("Request Rate", 0)))
    columns = ["Model"] + list(dict.fromkeys(key for _, row in ordered for key in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for model, row in ordered:
            writer.writerow({"Model": model, **{k: f"{v:g}" for k, v in row.items()}})


def markdown_table(results: Sequence[LevelResult]) -> str:
    """Throughput, latency percentiles and the server's queue vs compute split per level."""
    lines = [
        "| model | concurrency | infer/s | p50 ms | p90 ms | p99 ms | queue ms | compute ms | client+net ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        level = f"{r.request_rate:g}/s" if r.request_rate is not None else str(r.concurrency)
        lines.append(f"| {r.model} | {level} | {r.throughput:.1f} | {r.p50_ms:.2f} | {r.p90_ms:.2f} | "
                     f"{r.p99_ms:.2f} | {r.queue_ms:.2f} | {r.compute_ms:.2f} | {r.client_ms:.2f} |")
    staged = [r for r in results if len(r.stages) > 1]
    if staged:
        lines += ["", "Ensemble steps (Triton statistics; ms per request, mean batch per execution):", "",
                  "| model | concurrency | step | queue ms | compute ms | mean batch |",
                  "|---|---:|---|---:|---:|---:|"]
        for r in staged:
            level = f"{r.request_rate:g}/s" if r.request_rate is not None else str(r.concurrency)
            lines += [f"| {r.model} | {level} | {step.model} | {step.queue_ms:.2f} | {step.compute_ms:.2f} | "
                      f"{step.mean_batch:.1f} |" for step in r.stages]
    return "\n".join(lines) + "\n"


def write_json(results: Sequence[LevelResult], meta: dict, path: Path) -> None:
    """The summary with its settings, for machines."""
    path.write_text(json.dumps({**meta, "results": [asdict(r) for r in results]}, indent=2) + "\n")


def plot_throughput_latency(results: Sequence[LevelResult], path: Path, title: str) -> None:
    """Throughput against p99 latency, one line per model, points labelled by load level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for model in dict.fromkeys(r.model for r in results):
        points = [r for r in results if r.model == model]
        axes.plot([r.p99_ms for r in points], [r.throughput for r in points], marker="o", label=model)
        for r in points:
            level = f"{r.request_rate:g}/s" if r.request_rate is not None else f"c{r.concurrency}"
            axes.annotate(level, (r.p99_ms, r.throughput), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xlabel("p99 latency (ms)")
    axes.set_ylabel("throughput (infer/s)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_latency_breakdown(results: Sequence[LevelResult], path: Path, title: str) -> None:
    """Mean latency per level split into client+network, server queue and server compute (stacked bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.model}\n" + (f"{r.request_rate:g}/s" if r.request_rate is not None else f"c{r.concurrency}")
              for r in results]
    positions = range(len(results))
    figure, axes = plt.subplots(figsize=(max(6, 0.9 * len(results) + 2), 4.5))
    bottom = [0.0] * len(results)
    for name, values in breakdown_series(results):
        axes.bar(positions, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    axes.set_xticks(list(positions), labels, fontsize=7)
    axes.set_ylabel("mean latency (ms)")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def breakdown_series(results: Sequence[LevelResult]) -> list[tuple[str, list[float]]]:
    """The stacked parts of each level's mean latency: every ensemble step's queue and compute, then the rest.

    Steps are matched by position (an ensemble's first step, second step, ...), so models with the same layout
    share colours; a level without steps shows its own queue and compute in the first step's place.
    """
    depth = max((len(r.stages) for r in results), default=0)
    if depth <= 1:
        return [("client + network", [r.client_ms for r in results]),
                ("server queue", [r.queue_ms for r in results]),
                ("server compute", [r.compute_ms for r in results])]
    series: list[tuple[str, list[float]]] = [
        ("client, network, front end, hand-offs", [r.client_ms for r in results])]
    names = [_step_label(results, index) for index in range(depth)]
    for index, name in enumerate(names):
        for part in ("queue", "compute"):
            values = []
            for r in results:
                if len(r.stages) > 1:
                    stage = r.stages[index] if index < len(r.stages) else None
                    values.append(getattr(stage, f"{part}_ms") if stage else 0.0)
                else:
                    values.append(getattr(r, f"{part}_ms") if index == 0 else 0.0)
            series.append((f"{name} {part}", values))
    return series


def _step_label(results: Sequence[LevelResult], index: int) -> str:
    models = {r.stages[index].model for r in results if index < len(r.stages)}
    if len(models) == 1:
        return models.pop()
    kinds = {model.rsplit("_", 1)[-1] for model in models}  # NAME_tokenizer, NAME_onnx: the step's kind
    return kinds.pop() if len(kinds) == 1 else f"step {index + 1}"
