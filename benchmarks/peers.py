"""tritonize against the embedding servers people would pick instead, on the same texts and load, in one run.

    .venv/bin/python -m benchmarks.peers            # 3 alternated cycles, c1/c16/c64, ~13 min on 2 cores
    .venv/bin/python -m benchmarks.peers --quick    # one short cycle: proves the setup, numbers mean nothing

Servers, all up at once (idle while another is measured), all serving the bundled all-MiniLM-L6-v2 fp32:

- **tritonize**: the default CPU export (``--instance-kind cpu`` defaults: the one-step model that tokenizes and
  runs ONNX Runtime in one Python-backend step; no queue timeout as in :mod:`benchmarks.serving`) on the local
  Triton, KServe v2 JSON;
- **tritonize ensemble** (``--no-ensemble`` skips it): the same model exported with ``--serving ensemble``
  (tokenizer model → ONNX model): the hop A/B of the fixed per-request cost, measured in the same cycles;
- **infinity-emb** 0.0.78, optimum (ONNX Runtime) engine, mean pooling, in its own venv
  (:mod:`benchmarks.peer_envs`, built once; one source patch applied there, see
  :func:`benchmarks.peer_envs.patch_infinity`), on optimum-cli's ONNX export of the same folder;
- **naive FastAPI**: :mod:`benchmarks.naive_app`, transformers, one request at a time, in its own venv.

The same load generator (:mod:`benchmarks.http_load`: aiohttp, closed loop, one text per request) drives every
server with the same short sentences. Each cycle measures every server at every level, the server
order rotating from cycle to cycle; a ratio is taken inside one cycle (the servers saw the same machine
moments apart) and the median over cycles is reported. Before timing, each server's vectors are checked
against sentence-transformers. The in-process ceiling (:mod:`benchmarks.inprocess`) on the served
``model.onnx`` gives served/ceiling on short and long texts. For tritonize, each level also records the
per-hop split: Triton's statistics per ensemble step and who used the cores (:mod:`benchmarks.cpu_split`).

Prints the markdown table and writes ``peers.json``, ``peers.md`` and ``peers.png`` into the output folder.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import click
import numpy as np

from benchmarks import cpu_split, http_load, inprocess, peer_envs, peer_servers
from benchmarks import peers_report as report
from benchmarks.machine import cpu_count, describe_machine
from benchmarks.serving import Plan as ServingPlan
from benchmarks.serving import export_variant, model_path
from benchmarks.tuning import Tuning
from client.corpus import corpus, paragraphs
from client.server_stats import stage_times
from client.text_client import TextClient
from export.pipeline import ExportResult
from export.source import bundled_source
from server.local import LocalTriton
from tritonize.processes import cpu_seconds

#: Texts whose vectors every server must give as sentence-transformers does before it is timed.
CHECK_TEXTS = ("hello world", "Café in Zürich — naïve façade, 東京 and emoji 🚀.", "the battery lasts two days")
#: Minimum cosine against sentence-transformers for a server's vectors to count as the same model.
MIN_COSINE = 0.999


@dataclass(frozen=True)
class Plan:
    """What one peers run measures.

    Attributes:
        levels: Concurrency levels (requests in flight, one text each).
        seconds: Measured window per server and level.
        warmup_s: Unmeasured lead-in per server and level.
        cycles: Alternated cycles (medians and per-cycle ratios over them).
        texts: Short sentences sent: standard-library sentences in the seed-1 order (`benchmarks.serving` and the
            tuning sweep use seed 0).
        long_texts: Paragraphs for served/ceiling on long texts (0 skips it).
        peers: Peer servers to compare with (``infinity``, ``naive``).
        ensemble: Also serve and measure the ``--serving ensemble`` export.
        batch_sizes: In-process ceiling batch sizes.
        repeats: In-process passes per layout.
        tuning: Serving knobs of both exports; unset ones keep the
            exporter's CPU defaults.
    """

    levels: tuple[int, ...] = (1, 16, 64)
    seconds: float = 8.0
    warmup_s: float = 2.0
    cycles: int = 3
    texts: int = 512
    long_texts: int = 64
    peers: tuple[str, ...] = ("infinity", "naive")
    ensemble: bool = True
    batch_sizes: tuple[int, ...] = (1, 4, 8)
    repeats: int = 2
    tuning: Tuning = field(default_factory=Tuning)

    @classmethod
    def quick(cls, **changes: object) -> Plan:
        """One cycle of 2 s windows at c1 and c16, a small ceiling: a smoke run of every part."""
        return replace(cls(levels=(1, 16), seconds=2.0, warmup_s=0.5, cycles=1, texts=128, long_texts=32,
                           batch_sizes=(1, 8), repeats=1), **changes)


class PeerMeter:
    """Share of the cores a peer's process and this process (the load generator) used over a window."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        from benchmarks.machine import busy_cpu_seconds

        return (cpu_seconds(self._pid) or 0.0, time.process_time(), busy_cpu_seconds(), time.perf_counter())

    def lap(self) -> dict[str, float]:
        """Shares since the meter was made."""
        end = self._sample()
        capacity = max(end[3] - self._start[3], 1e-9) * cpu_count()
        server, load = ((end[i] - self._start[i]) / capacity for i in (0, 1))
        busy = min(1.0, (end[2] - self._start[2]) / capacity)
        return {"server": server, cpu_split.LOAD_GENERATOR: load, cpu_split.OTHER: max(0.0, busy - server - load)}


@dataclass(frozen=True)
class Served:
    """One server under test: its load target and how to meter it."""

    target: http_load.Target
    pid: int
    triton: TextClient | None = None
    stages: tuple[str, ...] = ()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def reference_vectors(folder: Path) -> np.ndarray:
    """sentence-transformers' vectors of :data:`CHECK_TEXTS` for the bundled folder."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu").encode(list(CHECK_TEXTS))


def check_vectors(served: Served, want: np.ndarray) -> float:
    """Min cosine of the server's vectors against ``want``.

    Raises:
        RuntimeError: Below :data:`MIN_COSINE` (the server would be timed on the wrong model or pooling).
    """
    cosines = []
    for text, expected in zip(CHECK_TEXTS, want):
        answer = http_load.post_one(served.target, text)
        vector = np.array(answer["outputs"][0]["data"] if "outputs" in answer else answer["data"][0]["embedding"],
                          dtype=np.float32)
        cosines.append(_cosine(vector, expected))
    if min(cosines) < MIN_COSINE:
        raise RuntimeError(f"{served.target.name} answers vectors unlike sentence-transformers' "
                           f"(cosine {min(cosines):.4f} < {MIN_COSINE}); not timing it")
    return min(cosines)


def measure(served: Served, texts: list[str], level: int, plan: Plan, corpus_name: str,
            cycle: int) -> report.Run:
    """One server at one level: load generator stats, cores by role, and for tritonize the per-hop split."""
    if served.triton:
        meter, own = cpu_split.Meter(served.pid), time.process_time()
        before = served.triton.counters(served.stages)
        stats = http_load.measure(served.target, texts, level, plan.seconds, plan.warmup_s)
        hops = report.hop_dict(stage_times(before, served.triton.counters(served.stages)))
        lap = meter.lap()
        cores = dict(lap.shares)
        # The load generator runs in this process (not a finished child): move its CPU out of "other".
        load = (time.process_time() - own) / ((plan.seconds + plan.warmup_s) * cpu_count())
        cores[cpu_split.LOAD_GENERATOR] = load
        cores[cpu_split.OTHER] = max(0.0, cores.get(cpu_split.OTHER, 0.0) - load)
        return report.Run(served.target.name, corpus_name, cycle, stats, cores, hops)
    meter = PeerMeter(served.pid)
    stats = http_load.measure(served.target, texts, level, plan.seconds, plan.warmup_s)
    return report.Run(served.target.name, corpus_name, cycle, stats, meter.lap())


@contextmanager
def servers(plan: Plan, workdir: Path,
            say: Callable[[str], None]) -> Iterator[tuple[list[Served], Path, ExportResult]]:
    """Every server up (tritonize first); yields them, the served model.onnx and the export."""
    source = bundled_source().folder
    with ExitStack() as stack:
        say("Exporting the bundled MiniLM fp32 for CPU (exporter defaults, no queue timeout) …")
        # As benchmarks.serving: the 1 s queue timeout sheds load by design; at c16 on long texts requests may
        # wait that long, and a refused request would count against the throughput measured.
        result = export_variant("fp32", workdir / "repository", ServingPlan(tuning=plan.tuning))
        models = [result.names.ensemble]
        if plan.ensemble:
            say("Exporting it again with --serving ensemble …")
            ensemble = export_variant("fp32", workdir / "repository", ServingPlan(tuning=plan.tuning), "ensemble")
            models.append(ensemble.names.ensemble)
        triton = stack.enter_context(LocalTriton(result.repository))
        client = stack.enter_context(TextClient(triton.http_url, "http"))
        # The outputs the client shows, as the peers answer only embeddings (not a one-step model's token_count).
        found = [Served(http_load.kserve_target(label, triton.http_url, model,
                                                outputs=tuple(spec.name for spec in client.interface(model).outputs)),
                        triton.pid or 0, client, tuple(client.stages(model)))
                 for label, model in zip(report.OURS, models)]
        if "infinity" in plan.peers:
            say("Starting infinity-emb (optimum engine) …")
            running = stack.enter_context(peer_servers.infinity(source, say))
            found.append(Served(http_load.embeddings_target(report.INFINITY, running.base_url, running.model),
                                running.pid))
        if "naive" in plan.peers:
            say("Starting the naive FastAPI app …")
            running = stack.enter_context(peer_servers.naive(source, say))
            found.append(Served(http_load.embeddings_target(report.NAIVE, running.base_url), running.pid))
        yield found, model_path(result), result


def run(plan: Plan, folder: Path, say: Callable[[str], None] = lambda _: None) -> report.PeersReport:
    """Set up, check and measure every server; write the files into ``folder``."""
    started = time.perf_counter()
    short = corpus(plan.texts, seed=1)
    long = paragraphs(plan.long_texts, seed=1) if plan.long_texts else []
    want = reference_vectors(bundled_source().folder)
    runs: list[report.Run] = []
    with tempfile.TemporaryDirectory(prefix="tritonize-peers-") as tmp, \
            servers(plan, Path(tmp), say) as (found, onnx, result):
        cosines = {s.target.name: check_vectors(s, want) for s in found}
        say("Vectors match sentence-transformers: " + ", ".join(f"{k} {v:.5f}" for k, v in cosines.items()))
        encoder = inprocess.encoder_for(result.repository, result.names.base)
        ceilings = {}
        for name, texts in (("short", short), ("long", long)):
            if not texts:
                continue
            points = inprocess.sweep(onnx, encoder, texts, None, plan.batch_sizes, plan.repeats, bulk_batch_size=0)
            best = inprocess.ceiling(points)
            ceilings[name] = (best.texts_per_s, best.label)
            say(f"In-process ceiling, {name} texts: {best.texts_per_s:.0f} texts/s ({best.label})")
        for cycle in range(1, plan.cycles + 1):
            order = found[cycle - 1:] + found[:cycle - 1]  # rotate: no server always runs first
            for level in plan.levels:
                for served in order:
                    run_ = measure(served, short, level, plan, "short", cycle)
                    runs.append(run_)
                    say(f"[cycle {cycle}] {served.target.name} c{level}: {run_.stats.requests_per_s:.0f} req/s, "
                        f"p50 {run_.stats.p50_ms:.1f} ms, p99 {run_.stats.p99_ms:.1f} ms"
                        + (f", {run_.stats.failed} failed" if run_.stats.failed else ""))
            for served in (s for s in found if long and s.triton):  # served/ceiling on long texts: ours only
                run_ = measure(served, long, 16, plan, "long", cycle)
                runs.append(run_)
                say(f"[cycle {cycle}] {served.target.name} long c16: {run_.stats.requests_per_s:.0f} req/s")
    facts = {**describe_machine(), "plan": {k: getattr(plan, k) for k in plan.__dataclass_fields__ if k != "tuning"},
             "tuning": plan.tuning.changed(),
             "seconds": time.perf_counter() - started, "infinity": "infinity-emb 0.0.78, optimum engine, patched "
             "file_name (benchmarks/peer_envs.py)", "loadavg_end": list(os.getloadavg()),
             "peer_versions": {env.name: peer_envs.versions(env)
                               for env in (peer_envs.INFINITY_ENV, peer_envs.NAIVE_ENV)
                               if (env.folder / ".ready").is_file()}}
    peers = report.PeersReport(tuple(runs), ceilings, cosines, facts, folder)
    report.write(peers)
    return peers


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--quick", is_flag=True, help="One cycle of 2 s windows at c1 and c16: a smoke run.")
@click.option("--cycles", type=click.IntRange(min=1), help="Alternated cycles [default: 3, 1 with --quick].")
@click.option("--seconds", type=click.FloatRange(min=0.5),
              help="Window per server and level [default: 8, 2 with --quick].")
@click.option("--concurrency", "-c", "levels", type=click.IntRange(min=1), multiple=True,
              help="Level; repeat for several [default: 1, 16, 64].")
@click.option("--peer", "peers", type=click.Choice(["infinity", "naive"]), multiple=True,
              help="Peer to compare with; repeat [default: both].")
@click.option("--ensemble/--no-ensemble", default=True,
              help="Also measure the same model exported with --serving ensemble (the hop A/B).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("benchmarks/results/peers"))
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@Tuning.click_options
def main(quick: bool, cycles: int | None, seconds: float | None, levels: tuple[int, ...], peers: tuple[str, ...],
         ensemble: bool, output_dir: Path, quiet: bool, **knobs: object) -> None:
    """Compare tritonize with infinity-emb and a naive FastAPI app on the same texts and load.

    The serving knobs (--max-queue-delay-us, --instance-count, ...) change the export as in benchmarks.serving.
    """
    changes: dict[str, object] = {"ensemble": ensemble, "tuning": Tuning.from_options(knobs)}
    for name, value in (("cycles", cycles), ("seconds", seconds), ("levels", levels), ("peers", peers)):
        if value:
            changes[name] = tuple(value) if isinstance(value, tuple) else value
    plan = Plan.quick(**changes) if quick else replace(Plan(), **changes)
    result = run(plan, output_dir, (lambda line: None) if quiet else (lambda line: click.echo(line, err=True)))
    click.echo(report.markdown(result))
    click.echo(result.folder)


if __name__ == "__main__":
    main()
