"""The peers benchmark's results: medians over alternated cycles, ratios taken inside each cycle, table, files."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.http_load import LevelStats

TRITONIZE, ENSEMBLE = "tritonize", "tritonize ensemble"
INFINITY, NAIVE = "infinity-emb", "naive FastAPI"
#: The tritonize paths measured, in table order; ratios are given for each against each peer.
OURS = (TRITONIZE, ENSEMBLE)


@dataclass(frozen=True)
class Run:
    """One server at one level in one cycle.

    Attributes:
        server: :data:`TRITONIZE`, :data:`INFINITY` or :data:`NAIVE`.
        corpus: ``short`` or ``long``.
        cycle: 1-based cycle.
        stats: What the load generator saw.
        cpu: Share of the machine's cores by role (``server``, ``load generator``, ``other``, and for tritonize
            Triton itself and each model's stubs) over the window.
        hops: For tritonize: per ensemble step, mean queue and compute ms per request and mean batch.
    """

    server: str
    corpus: str
    cycle: int
    stats: LevelStats
    cpu: dict[str, float] = field(default_factory=dict)
    hops: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class PeersReport:
    """Every run plus the in-process ceilings and the setup facts.

    Attributes:
        runs: Every measured run.
        ceilings: Corpus → in-process ceiling (texts/s) on the served ``model.onnx``, with its layout.
        cosines: Server → min cosine of its vectors against sentence-transformers on the check texts.
        facts: Machine, versions, plan, seconds.
        folder: Where the files went.
    """

    runs: tuple[Run, ...]
    ceilings: dict[str, tuple[float, str]]
    cosines: dict[str, float]
    facts: dict[str, object]
    folder: Path

    def levels(self, corpus: str = "short") -> list[int]:
        """Concurrency levels measured on ``corpus``, ascending."""
        return sorted({r.stats.concurrency for r in self.runs if r.corpus == corpus})

    def servers(self) -> list[str]:
        """Servers measured, in table order."""
        return [s for s in (*OURS, INFINITY, NAIVE) if any(r.server == s for r in self.runs)]

    def of(self, server: str, concurrency: int, corpus: str = "short") -> list[Run]:
        """The runs of one server and level, by cycle."""
        return sorted((r for r in self.runs if r.server == server and r.stats.concurrency == concurrency
                       and r.corpus == corpus), key=lambda r: r.cycle)

    def median(self, server: str, concurrency: int, what: str, corpus: str = "short") -> float | None:
        """Median over cycles of ``requests_per_s``, ``p50_ms`` or ``p99_ms``."""
        values = [getattr(r.stats, what) for r in self.of(server, concurrency, corpus)]
        return statistics.median(values) if values else None

    def ratio(self, top: str, bottom: str, concurrency: int, what: str = "requests_per_s") -> float | None:
        """Median over cycles of ``top``/``bottom`` on ``what``, each ratio taken inside one cycle."""
        pairs = [(a.stats, b.stats) for a in self.of(top, concurrency) for b in self.of(bottom, concurrency)
                 if a.cycle == b.cycle]
        values = [getattr(a, what) / getattr(b, what) for a, b in pairs if getattr(b, what)]
        return statistics.median(values) if values else None

    def served_over_ceiling(self, corpus: str, concurrency: int = 16, server: str = TRITONIZE) -> float | None:
        """Median req/s of ``server`` at ``concurrency`` on ``corpus`` over that corpus's in-process ceiling."""
        served = self.median(server, concurrency, "requests_per_s", corpus)
        ceiling = self.ceilings.get(corpus)
        return served / ceiling[0] if served and ceiling else None


def markdown(report: PeersReport) -> str:
    """The comparison table, the ratios, served/ceiling and the tritonize per-hop split."""
    levels = report.levels()
    cycles = max((r.cycle for r in report.runs), default=0)
    lines = [f"Closed loop, one short sentence per request, {cycles} alternated cycle(s), medians "
             "(req/s; p50 / p99 ms):", "", "| server | " + " | ".join(f"c{c}" for c in levels) + " |",
             "|---|" + "---|" * len(levels)]
    for server in report.servers():
        cells = []
        for level in levels:
            rps = report.median(server, level, "requests_per_s")
            failed = sum(r.stats.failed for r in report.of(server, level))
            cells.append("—" if rps is None else
                         f"{rps:.0f} ({report.median(server, level, 'p50_ms'):.1f} / "
                         f"{report.median(server, level, 'p99_ms'):.1f})" + (f", {failed} failed" if failed else ""))
        cosine = report.cosines.get(server)
        label = server + (f" (cos ≥ {cosine:.5f})" if cosine is not None else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "| ratio (median of per-cycle ratios) | " + " | ".join(f"c{c}" for c in levels) + " |",
              "|---|" + "---|" * len(levels)]
    for ours, peer in _pairs(report):
        for what, label in (("requests_per_s", "req/s"), ("p50_ms", "p50")):
            cells = [_x(report.ratio(ours, peer, level, what)) for level in levels]
            lines.append(f"| {ours} / {peer} {label} | " + " | ".join(cells) + " |")
    lines.append("")
    for corpus, (texts_per_s, layout) in report.ceilings.items():
        for ours in (s for s in OURS if report.of(s, 16, corpus)):
            lines.append(f"- {ours}: served c16 / in-process ceiling, {corpus} texts: "
                         f"{_x(report.served_over_ceiling(corpus, 16, ours))} "
                         f"(ceiling {texts_per_s:.0f} texts/s, {layout})")
    lines += ["", "Per hop (Triton statistics: mean queue + compute ms per request, mean batch; cores by role "
              "from /proc; the cycle in the middle):", "", "| path | level | hops | cores |", "|---|---|---|---|"]
    for ours in OURS:
        for level in levels:
            runs = report.of(ours, level)
            if not runs:
                continue
            middle = runs[len(runs) // 2]
            hops = ", ".join(f"{name}: {h['queue_ms']:.2f} + {h['compute_ms']:.2f} ms (×{h['mean_batch']:.1f})"
                             for name, h in middle.hops.items())
            cores = ", ".join(f"{role} {share:.0%}" for role, share in
                              sorted(middle.cpu.items(), key=lambda i: -i[1]) if share >= 0.005)
            lines.append(f"| {ours} | c{level} | {hops} | {cores} |")
    peers_cpu = [(s, report.of(s, c)) for s in (INFINITY, NAIVE) for c in levels if report.of(s, c)]
    if peers_cpu:
        lines += ["", "Peers' cores: " + "; ".join(
            f"{s} c{runs[0].stats.concurrency}: " + ", ".join(
                f"{role} {share:.0%}" for role, share in runs[len(runs) // 2].cpu.items() if share >= 0.005)
            for s, runs in peers_cpu)]
    return "\n".join(lines) + "\n"


def write(report: PeersReport) -> None:
    """``peers.json``, ``peers.md`` and ``peers.png`` into ``report.folder``."""
    report.folder.mkdir(parents=True, exist_ok=True)
    payload = {"facts": report.facts, "ceilings": report.ceilings, "cosines": report.cosines,
               "runs": [{**asdict(r), "stats": {**asdict(r.stats), "requests_per_s": r.stats.requests_per_s}}
                        for r in report.runs],
               "ratios": {f"{ours}/{peer}": {f"c{c}": {w: report.ratio(ours, peer, c, w)
                                                         for w in ("requests_per_s", "p50_ms")}
                                              for c in report.levels()}
                          for ours, peer in _pairs(report)},
               "served_over_ceiling": {f"{ours} {c}": report.served_over_ceiling(c, 16, ours)
                                       for c in report.ceilings for ours in OURS}}
    (report.folder / "peers.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    (report.folder / "peers.md").write_text(markdown(report))
    plot(report, report.folder / "peers.png")


def plot(report: PeersReport, path: Path) -> None:
    """Throughput and p50 per level, one line per server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = report.levels()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for server in report.servers():
        left.plot(levels, [report.median(server, c, "requests_per_s") or 0 for c in levels], marker="o", label=server)
        right.plot(levels, [report.median(server, c, "p50_ms") or 0 for c in levels], marker="o", label=server)
    for axis, title in ((left, "requests/s (one text each)"), (right, "p50 latency, ms")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(levels, [f"c{c}" for c in levels])
        axis.set_title(title)
        axis.grid(alpha=0.3)
    right.set_yscale("log")
    left.legend()
    figure.suptitle(f"MiniLM fp32 on {report.facts.get('cpus', '?')} cores: tritonize vs peers")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _pairs(report: PeersReport) -> list[tuple[str, str]]:
    """(ours, other) pairs to give ratios for: each tritonize path against each peer, and the default (one-step)
    export against the ensemble."""
    servers = report.servers()
    pairs = [(ours, peer) for ours in OURS for peer in (INFINITY, NAIVE) if ours in servers and peer in servers]
    return pairs + [(TRITONIZE, other) for other in OURS[1:] if other in servers and TRITONIZE in servers]


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def hop_dict(stages: Sequence[object]) -> dict[str, dict[str, float]]:
    """:class:`client.server_stats.StageTime` rows as plain dicts by model."""
    return {s.model: {"queue_ms": s.queue_ms, "compute_ms": s.compute_ms, "mean_batch": s.mean_batch,
                      "requests": s.requests} for s in stages}
