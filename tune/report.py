"""The run's outputs: the table of every candidate, the throughput-vs-p99 plot, ``tune.json``, rerun comparison."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from client.bench_report import LevelResult
from tune.knobs import Knobs
from tune.objective import Score, Target, best_level, frontier
from tune.overload import OverloadResult


@dataclass(frozen=True)
class Row:
    """One measured candidate.

    Attributes:
        index: 1 for the first measured (the defaults).
        axis: The knob being walked when it was measured.
        knobs: The candidate.
        score: Its score under the target.
        levels: Every level measured.
        failure: Why it, or one of its levels, could not be measured.
        seconds: Wall time its reload and measurement took.
    """

    index: int
    axis: str
    knobs: Knobs
    score: Score
    levels: tuple[LevelResult, ...]
    failure: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """A whole run.

    Attributes:
        model: The ensemble tuned.
        target: What was optimised.
        rows: Every candidate, in measuring order.
        defaults: The first row's knobs (the export's config).
        winner: The best row (``None`` when nothing was measured).
        final: The winner's knobs with the queue policy chosen for it.
        overload: The overload check of ``final``'s queue policy, if run.
        flat: Knobs pruned because no value moved the score.
        notes: Variants dropped by their gate, a rerun's comparison, an interrupt.
        machine: Cores, GPUs, URL.
        seconds: Wall time of the run.
        interrupted: Ctrl-C, or an error, ended it early.
        confirmation: Indices of the rows that measured the defaults and the winner again, back to back.
        error: The error that stopped the run early, if one did.
    """

    model: str
    target: Target
    rows: tuple[Row, ...]
    defaults: Knobs | None
    winner: Row | None
    final: Knobs | None
    overload: OverloadResult | None
    flat: tuple[str, ...]
    notes: tuple[str, ...]
    machine: dict[str, object]
    seconds: float
    interrupted: bool = False
    confirmation: tuple[int, int] | None = None
    error: str = ""

    @property
    def ratio(self) -> float | None:
        """The winner's score over the defaults' (throughput or p99 ratio), both from this run.

        From the back-to-back confirmation when there was one, else from the search.
        """
        if not self.rows or self.winner is None:
            return None
        if self.winner.knobs == self.defaults:
            return 1.0
        if self.confirmation is not None:
            defaults, winner = (self.rows[i - 1] for i in self.confirmation)
            return winner.score.ratio(defaults.score)
        return self.winner.score.ratio(self.rows[0].score)


def describe_score(score: Score, target: Target) -> str:
    """``312 infer/s`` or ``p99 41.0 ms``, or what missed the target."""
    if target.p99_ms is not None:
        return f"{score.value:.0f} infer/s" if score.feasible else (
            "not measured" if score.value == float("-inf") else f"over budget (best p99 {-score.value:.1f} ms)")
    return f"p99 {-score.value:.1f} ms" if score.feasible else (
        "not measured" if score.value == float("-inf") else f"rate not sustained ({score.value:.0f} infer/s)")


def markdown(outcome: Outcome) -> str:
    """Every candidate: its knobs against the defaults, the best level's throughput, p50/p99 and per-step split."""
    base = outcome.defaults
    lines = [f"# tune {outcome.model}: {outcome.target.describe()}", "",
             "| # | knob walked | knobs (vs defaults) | score | best level | infer/s | p50 ms | p99 ms | per step: "
             "queue / compute ms (batch) | levels (cN: infer/s / p99 ms) | s |",
             "|---:|---|---|---|---|---:|---:|---:|---|---|---:|"]
    for row in outcome.rows:
        best = best_level(row.levels, outcome.target) or (row.levels[-1] if row.levels else None)
        knobs = row.knobs.describe(base) if base else ""
        mark = " **winner**" if outcome.winner is not None and row.index == outcome.winner.index else ""
        if best is None:
            cells = "- | - | - | - | -"
        else:
            split = "; ".join(f"{s.model.rsplit('_', 1)[-1]} {s.queue_ms:.1f} / {s.compute_ms:.1f} ({s.mean_batch:.1f})"
                              for s in best.stages) or "-"
            label = f"c{best.concurrency}" if not best.request_rate else f"r{best.request_rate:g}"
            cells = f"{label} | {best.throughput:.0f} | {best.p50_ms:.1f} | {best.p99_ms:.1f} | {split}"
        levels = " ".join(f"c{p.concurrency}:{p.throughput:.0f}/{p.p99_ms:.0f}" for p in row.levels)
        failure = row.failure.replace(f"perf_analyzer failed on {outcome.model} at ", "")
        levels = "; ".join(part for part in (levels, failure) if part)
        lines.append(f"| {row.index} | {row.axis} | {knobs}{mark} | {describe_score(row.score, outcome.target)} | "
                     f"{cells} | {levels} | {row.seconds:.0f} |")
    lines += ["", *summary_lines(outcome)]
    return "\n".join(lines) + "\n"


def summary_lines(outcome: Outcome) -> list[str]:
    """The winner, its ratio over the defaults, the queue policy and its overload check, pruned knobs, notes."""
    lines = []
    what = "throughput" if outcome.target.p99_ms is not None else "p99"
    if outcome.confirmation is not None and outcome.defaults is not None:
        defaults, best = (outcome.rows[i - 1] for i in outcome.confirmation)
        ratio = best.score.ratio(defaults.score)
        lines.append(f"Measured again back to back: the defaults (#{defaults.index}) "
                     f"{describe_score(defaults.score, outcome.target)}, the search's best (#{best.index}: "
                     f"{best.knobs.describe(outcome.defaults)}) {describe_score(best.score, outcome.target)}"
                     + (f": {ratio:.2f}x {what}." if ratio else "."))
    if outcome.winner is not None and outcome.defaults is not None:
        ratio = outcome.ratio
        lines.append(f"Winner #{outcome.winner.index}: {outcome.winner.knobs.describe(outcome.defaults)}: "
                     f"{describe_score(outcome.winner.score, outcome.target)}"
                     + (f", {ratio:.2f}x the defaults' {what} (same run)." if ratio and outcome.winner.knobs !=
                        outcome.defaults else "."))
    if outcome.final is not None and outcome.final.max_queue_size:
        lines.append(f"Queue policy: max_queue_size {outcome.final.max_queue_size}, queue timeout "
                     f"{outcome.final.queue_timeout_ms} ms per model.")
    if outcome.overload is not None:
        o = outcome.overload
        lines.append(f"Overload check at c{o.concurrency} for {o.seconds:.0f} s: {o.answered} answered "
                     f"({o.throughput:.0f}/s, p99 {o.answered_p99_ms:.1f} ms), {o.refused} refused "
                     f"(median {o.refused_p50_ms:.1f} ms to refuse)"
                     + ("." if outcome.target.p99_ms is None or o.answered_p99_ms <= outcome.target.p99_ms else
                        f"; the answered p99 is over the {outcome.target.p99_ms:g} ms budget even with this policy: "
                        "the cores are short for this load (on one machine, the load generator shares them)."))
    if outcome.flat:
        lines.append(f"Pruned (no value moved the score): {', '.join(outcome.flat)}.")
    lines += list(outcome.notes)
    lines.append(f"{len(outcome.rows)} candidates in {outcome.seconds:.0f} s"
                 + (" (interrupted)." if outcome.interrupted else "."))
    return lines


def to_json(outcome: Outcome) -> dict[str, object]:
    """``tune.json``: everything, plain."""
    def knobs(k: Knobs | None) -> dict[str, object] | None:
        return asdict(k) if k is not None else None

    return {
        "model": outcome.model, "target": asdict(outcome.target), "machine": outcome.machine,
        "seconds": outcome.seconds, "interrupted": outcome.interrupted, "error": outcome.error,
        "flat": list(outcome.flat),
        "notes": list(outcome.notes), "defaults": knobs(outcome.defaults),
        "winner": outcome.winner.index if outcome.winner else None, "final": knobs(outcome.final),
        "ratio": outcome.ratio, "confirmation": list(outcome.confirmation) if outcome.confirmation else None,
        "overload": asdict(outcome.overload) if outcome.overload else None,
        "candidates": [{"index": r.index, "axis": r.axis, "knobs": knobs(r.knobs), "score": asdict(r.score),
                        "failure": r.failure, "seconds": r.seconds,
                        "levels": [_level(p) for p in r.levels]} for r in outcome.rows],
    }


def _level(point: LevelResult) -> dict[str, object]:
    data = asdict(point)
    data["stages"] = [asdict(s) for s in point.stages]
    return data


def compare(previous: dict, outcome: Outcome) -> list[str]:
    """Whether a rerun reproduced the previous run's choice, and if not, whose scores moved (from ``tune.json``)."""
    if outcome.winner is None or not previous.get("candidates") or previous.get("winner") is None:
        return []
    before = {json.dumps(c["knobs"], sort_keys=True): c for c in previous["candidates"]}
    old = next(c for c in previous["candidates"] if c["index"] == previous["winner"])
    new_key = json.dumps(asdict(outcome.winner.knobs), sort_keys=True)
    if json.dumps(old["knobs"], sort_keys=True) == new_key:
        return ["Rerun: the same winner as the previous run."]
    lines = ["Rerun: the winner changed."]
    now = {json.dumps(asdict(r.knobs), sort_keys=True): r for r in outcome.rows}
    for key, label in ((json.dumps(old["knobs"], sort_keys=True), "previous winner"), (new_key, "new winner")):
        was, row = before.get(key), now.get(key)
        was_text = f"{was['score']['value']:.1f}" if was else "not measured"
        now_text = f"{row.score.value:.1f}" if row else "not measured"
        lines.append(f"  {label}: score {was_text} then, {now_text} now (the frontier moved: a busier or quieter "
                     "machine, or another path through the search)")
    return lines


def plot(outcome: Outcome, path: Path) -> None:
    """Throughput against p99 of every level measured, the frontier, the budget line, defaults and winner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 5))
    points = [p for row in outcome.rows for p in row.levels]
    axes.scatter([p.p99_ms for p in points], [p.throughput for p in points], s=14, color="0.6",
                 label="every candidate and level")
    edge = frontier(points)
    axes.plot([p.p99_ms for p in edge], [p.throughput for p in edge], "-o", color="tab:blue", ms=4, label="frontier")
    for row, style, label in ((outcome.rows[0] if outcome.rows else None, "s", "defaults"),
                              (outcome.winner, "*", "winner")):
        if row is not None and row.levels:
            ladder = sorted(row.levels, key=lambda p: (p.concurrency, p.request_rate or 0))
            axes.plot([p.p99_ms for p in ladder], [p.throughput for p in ladder], style + "--", ms=10,
                      label=f"{label} (#{row.index})")
    if outcome.target.p99_ms is not None:
        axes.axvline(outcome.target.p99_ms, color="tab:red", ls=":", label=f"p99 budget {outcome.target.p99_ms:g} ms")
    if outcome.target.min_throughput is not None:
        axes.axhline(outcome.target.min_throughput, color="tab:red", ls=":",
                     label=f"required {outcome.target.min_throughput:g} infer/s")
    axes.set_xlabel("p99 latency (ms)")
    axes.set_ylabel("throughput (infer/s)")
    axes.set_title(f"tune {outcome.model}: {outcome.target.describe()}")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write(outcome: Outcome, folder: Path) -> None:
    """``tune.md``, ``tune.json`` and ``tune.png`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tune.md").write_text(markdown(outcome))
    (folder / "tune.json").write_text(json.dumps(to_json(outcome), indent=2) + "\n")
    if outcome.rows:
        plot(outcome, folder / "tune.png")

