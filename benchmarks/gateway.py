"""The gateway's cost: ``/v1/embeddings`` through the gateway against the same texts sent straight to Triton.

    .venv/bin/python -m benchmarks.gateway [--seconds 10] [--rounds 3] [--concurrency 1 --concurrency 16]
        [--texts-per-request 1 --texts-per-request 64] [--repository R --model NAME]

Exports the bundled all-MiniLM-L6-v2 for CPU (unless ``--repository`` names one), serves it with the local Triton,
starts the gateway beside it (``python -m gateway``, tokens counted with the repository's tokenizer files), then
for each texts-per-request × concurrency level runs one closed-loop asyncio load generator against both paths,
alternated (direct, gateway, gateway, direct, ...) so drift on a shared machine hits both alike:

- **direct**: ``tritonclient.grpc.aio`` ``infer`` on the ensemble, the request's texts in sub-requests of the
  ensemble's ``max_batch_size``, concurrently (the gateway's own :class:`gateway.triton.TritonEngine`);
- **gateway**: ``POST /v1/embeddings`` with the same texts over one ``httpx.AsyncClient`` (float JSON answers).

Prints texts/s, p50/p99 latency, the gateway's share of the CPU (its process's CPU seconds per 1,000 texts) and
the ratio gateway / direct per level. The issue's targets: ≥ 0.85 at c16 with one text, ≥ 0.95 with 64.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import click
import httpx
import numpy as np

from benchmarks.machine import describe_machine
from client.corpus import corpus
from export.pipeline import run_export
from export.settings import ExportSettings, QueuePolicy
from gateway.catalog import build_catalog
from gateway.process import GatewayProcess
from gateway.triton import TritonEngine
from server.local import LocalTriton
from server.ports import free_ports
from tritonize.processes import cpu_seconds

Send = Callable[[list[str]], Awaitable[object]]


@dataclass
class Run:
    """One path at one level: every request's latency, the wall time, the texts sent, the gateway's CPU seconds."""

    path: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    texts: int = 0
    gateway_cpu_s: float = 0.0

    @property
    def texts_per_s(self) -> float:
        """Answered texts per second."""
        return self.texts / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        return float(np.percentile(self.latencies, q) * 1000) if self.latencies else 0.0


async def closed_loop(send: Send, texts: Sequence[str], per_request: int, concurrency: int, seconds: float,
                      run: Run) -> Run:
    """``concurrency`` workers each sending ``per_request`` texts after one another for ``seconds``."""
    pool = itertools.cycle(range(len(texts)))
    stop = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < stop:
            batch = [texts[next(pool)] for _ in range(per_request)]
            start = time.perf_counter()
            try:
                await send(batch)
            except Exception:  # noqa: BLE001 - a failed request counts, the run goes on
                run.errors += 1
                continue
            run.latencies.append(time.perf_counter() - start)
            run.texts += len(batch)

    begin = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.seconds = time.monotonic() - begin
    return run


async def measure(grpc_url: str, gateway: GatewayProcess, model: str, texts: Sequence[str], per_request: int,
                  concurrency: int, seconds: float, rounds: int) -> dict[str, Run]:
    """Both paths at one level, alternated over ``rounds``; runs of a path are merged."""
    engine = TritonEngine(grpc_url, timeout_s=120.0)
    served = build_catalog(await engine.ready_configs())[model]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=gateway.url, limits=limits, timeout=120.0) as http:

        async def direct(batch: list[str]) -> object:
            vectors, _ = await engine.embed(served, batch, None)
            return vectors

        async def through_gateway(batch: list[str]) -> object:
            response = await http.post("/v1/embeddings", json={"model": model, "input": batch})
            response.raise_for_status()
            return response.json()

        paths = {"direct": direct, "gateway": through_gateway}
        merged = {name: Run(name) for name in paths}
        for name, send in paths.items():  # warm-up: connections, the first tokenizer load
            await closed_loop(send, texts, per_request, concurrency, 0.5, Run(name))
        for index in range(rounds):
            order = list(paths) if index % 2 == 0 else list(reversed(paths))
            for name in order:
                before = cpu_seconds(gateway.pid) or 0.0
                run = await closed_loop(paths[name], texts, per_request, concurrency, seconds, Run(name))
                run.gateway_cpu_s = (cpu_seconds(gateway.pid) or 0.0) - before
                total = merged[name]
                total.latencies += run.latencies
                total.errors += run.errors
                total.seconds += run.seconds
                total.texts += run.texts
                total.gateway_cpu_s += run.gateway_cpu_s
    await engine.close()
    return merged


def export_minilm(repository: Path, name: str) -> None:
    """The bundled MiniLM for CPU, ONNX only, with the exporter's CPU defaults (no queue timeout: a benchmark
    measures throughput, not load shedding)."""
    run_export(ExportSettings(model=None, repository=repository, name=name, formats=("onnx",), instance_kind="cpu",
                              queue=replace(QueuePolicy(), timeout_ms=0), release_check=False))


def table(results: list[tuple[int, int, dict[str, Run]]]) -> str:
    """A markdown table: one row per level."""
    lines = ["| texts/request | concurrency | direct texts/s | gateway texts/s | ratio | direct p50/p99 ms | "
             "gateway p50/p99 ms | gateway CPU s per 1k texts | errors d/g |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for per_request, concurrency, runs in results:
        d, g = runs["direct"], runs["gateway"]
        ratio = g.texts_per_s / d.texts_per_s if d.texts_per_s else 0.0
        cpu = g.gateway_cpu_s / g.texts * 1000 if g.texts else 0.0
        lines.append(f"| {per_request} | {concurrency} | {d.texts_per_s:.1f} | {g.texts_per_s:.1f} | {ratio:.2f} | "
                     f"{d.percentile_ms(50):.1f}/{d.percentile_ms(99):.1f} | "
                     f"{g.percentile_ms(50):.1f}/{g.percentile_ms(99):.1f} | {cpu:.2f} | {d.errors}/{g.errors} |")
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--seconds", type=click.FloatRange(min=0.5), default=10.0, help="Length of each run.")
@click.option("--rounds", type=click.IntRange(min=1), default=3, help="Alternated runs per path and level.")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), multiple=True, help="[default: 1, 16]")
@click.option("--texts-per-request", "-n", type=click.IntRange(min=1), multiple=True, help="[default: 1, 64]")
@click.option("--repository", type=click.Path(file_okay=False, path_type=Path),
              help="Serve this repository [default: export the bundled MiniLM into a temporary one].")
@click.option("--model", default="minilm", help="The text-embedding ensemble to load.")
def main(seconds: float, rounds: int, concurrency: tuple[int, ...], texts_per_request: tuple[int, ...],
         repository: Path | None, model: str) -> None:
    """Measure the gateway against direct Triton on the same load generator, and print the ratios."""
    say = lambda line: click.echo(line, err=True)  # noqa: E731
    texts = corpus(2048)
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as scratch:
        if repository is None:
            repository = Path(scratch) / "model_repository"
            say(f"Exporting the bundled MiniLM as '{model}' …")
            export_minilm(repository, model)
        with LocalTriton(repository, ready_timeout=300) as server, \
                GatewayProcess(server.grpc_url, free_ports(1)[0], repository=repository) as gateway:
            results = []
            for per_request in texts_per_request or (1, 64):
                for level in concurrency or (1, 16):
                    say(f"{per_request} text(s)/request, c{level}: {rounds} × {seconds:.0f} s per path …")
                    runs = asyncio.run(measure(server.grpc_url, gateway, model, texts, per_request, level, seconds,
                                               rounds))
                    results.append((per_request, level, runs))
    click.echo(f"Machine: {describe_machine()}")
    click.echo(table(results))


if __name__ == "__main__":
    main()
