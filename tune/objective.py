"""What a candidate is worth under the target: its score, the next load level to try, the frontier, the queue policy.

Pure functions over measured load levels (:class:`client.bench_report.LevelResult`); no server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from client.bench_report import LevelResult

#: Concurrency levels a candidate may be measured at (requests in flight, one text each).
LADDER = (1, 2, 4, 8, 16, 32, 64, 128)
#: A rate-driven level counts as sustained when it answered at least this share of the rate asked.
SUSTAINED_SHARE = 0.95
#: A higher concurrency is only worth its window while throughput grows by more than this.
GROWTH = 0.02


@dataclass(frozen=True)
class Target:
    """What the search optimises: exactly one of the two is set.

    Attributes:
        p99_ms: Maximise throughput among load levels whose p99 latency stays within this.
        min_throughput: Minimise p99 latency at this many requests per second.
    """

    p99_ms: float | None = None
    min_throughput: float | None = None

    def __post_init__(self) -> None:
        """Exactly one target."""
        if (self.p99_ms is None) == (self.min_throughput is None):
            raise ValueError("give exactly one target: a p99 budget or a required throughput")

    def describe(self) -> str:
        """``max throughput with p99 <= 50 ms`` or ``min p99 at 100 infer/s``."""
        if self.p99_ms is not None:
            return f"max throughput with p99 <= {self.p99_ms:g} ms"
        return f"min p99 at {self.min_throughput:g} infer/s"


@dataclass(frozen=True, order=True)
class Score:
    """A candidate's worth: feasible ones beat infeasible ones, then the larger value wins.

    Attributes:
        feasible: Some level met the target.
        value: Feasible: the throughput (p99 budget) or minus the p99 (required throughput). Infeasible: minus the
            lowest p99 seen (p99 budget) or the throughput reached (required throughput), so the search still
            moves towards the target.
    """

    feasible: bool
    value: float

    def beats(self, other: Score | None, min_gain: float) -> bool:
        """Better than ``other`` by more than ``min_gain`` (relative), the noise a rerun may show."""
        if other is None:
            return True
        if self.feasible != other.feasible:
            return self.feasible
        return self.value > other.value + min_gain * abs(other.value)

    def ratio(self, other: Score) -> float | None:
        """How many times better than ``other`` (throughput over throughput, or p99 over p99), when comparable."""
        if not (self.feasible and other.feasible) or other.value == 0:
            return None
        return self.value / other.value if self.value > 0 else other.value / self.value


def score(points: Sequence[LevelResult], target: Target) -> Score:
    """The score of one candidate's measured levels (``Score(False, -inf)`` when nothing was measured)."""
    if not points:
        return Score(False, -math.inf)
    if target.p99_ms is not None:
        within = [p.throughput for p in points if p.p99_ms <= target.p99_ms]
        if within:
            return Score(True, max(within))
        return Score(False, -min(p.p99_ms for p in points))
    assert target.min_throughput is not None
    sustained = [p for p in points if p.throughput >= SUSTAINED_SHARE * target.min_throughput]
    if sustained:
        return Score(True, -min(p.p99_ms for p in sustained))
    return Score(False, max(p.throughput for p in points))


def best_level(points: Sequence[LevelResult], target: Target) -> LevelResult | None:
    """The level that gives the score (``None`` when none met the target)."""
    if target.p99_ms is not None:
        within = [p for p in points if p.p99_ms <= target.p99_ms]
        return max(within, key=lambda p: p.throughput) if within else None
    assert target.min_throughput is not None
    sustained = [p for p in points if p.throughput >= SUSTAINED_SHARE * target.min_throughput]
    return min(sustained, key=lambda p: p.p99_ms) if sustained else None


def next_concurrency(points: Sequence[LevelResult], budget_ms: float, start: int,
                     ladder: Sequence[int] = LADDER) -> int | None:
    """The next concurrency to measure for a p99 budget, or ``None`` when the candidate is known well enough.

    Starts at ``start`` (the best level of the candidate before: neighbours peak near each other), climbs the
    ladder while p99 stays within the budget and throughput still grows, and steps down when the first levels
    are already over the budget.
    """
    if not points:
        return start
    measured = {p.concurrency: p for p in points}
    within = [c for c, p in measured.items() if p.p99_ms <= budget_ms]
    if not within:
        lower = [c for c in ladder if c < min(measured) and c not in measured]
        return max(lower) if lower else None
    top = max(measured)
    if measured[top].p99_ms > budget_ms:
        return None
    below = [c for c in measured if c < top]
    if below and measured[top].throughput <= measured[max(below)].throughput * (1 + GROWTH):
        return None
    higher = [c for c in ladder if c > top]
    return min(higher) if higher else None


def frontier(points: Sequence[LevelResult]) -> list[LevelResult]:
    """The Pareto frontier of throughput against p99: no other point is as fast with a p99 as low, by p99."""
    ordered = sorted(points, key=lambda p: (p.p99_ms, -p.throughput))
    kept: list[LevelResult] = []
    for point in ordered:
        if not kept or point.throughput > kept[-1].throughput:
            kept.append(point)
    return kept


def queue_policy_for(throughput: float, p50_ms: float, budget_ms: float, queues: int = 2) -> tuple[int, int]:
    """Max queue size and queue timeout that keep admitted requests within ``budget_ms`` under overload.

    A request admitted behind ``n`` others waits about ``n / throughput``; the budget leaves ``budget_ms - p50_ms``
    for waiting (Little's law), shared by the ``queues`` batched models of the ensemble. Anything beyond is refused
    at once (Triton's ``max_queue_size``) or after the timeout, instead of waiting past the budget.

    Returns:
        ``(max_queue_size, timeout_ms)``, each at least 1.
    """
    slack_ms = max(budget_ms - p50_ms, 1.0)
    size = max(1, math.floor(throughput * slack_ms / 1000.0))
    return size, max(1, math.floor(slack_ms / queues))
