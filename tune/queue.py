"""The winner's load shedding: a queue policy from its measured capacity, checked under overload."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from client.bench_report import LevelResult
from tritonize.repo_format.tokenizer_encoding import TEXT_INPUT
from tune.knobs import Knobs
from tune.objective import best_level, queue_policy_for
from tune.overload import OverloadResult, overload
from tune.plan import Plan

#: Tightenings tried when the admitted requests' p99 is still over the budget under overload.
TIGHTENINGS = 2
#: Requests in flight of the overload check, per request in flight at the winner's best level.
OVERLOAD_FACTOR = 4


def choose_queue_policy(knobs: Knobs, levels: Sequence[LevelResult], plan: Plan, serve: Callable[[Knobs], None],
                        url: str, say: Callable[[str], None]) -> tuple[Knobs | None, OverloadResult | None]:
    """The winner with a queue policy sized by Little's law, tightened until overload keeps admitted p99 in budget.

    The budget is the p99 target, or 1.5 times the winner's p99 at the required rate. The check runs
    ``OVERLOAD_FACTOR`` times the winner's best concurrency (at least 16) for ``plan.overload_s``; while the
    answered requests' p99 is over the budget, queue size and timeout are halved (``TIGHTENINGS`` times at most).

    Returns:
        The knobs with the policy (``None`` when no level met the target), and the last overload check (``None``
        when skipped).
    """
    best = best_level(levels, plan.target)
    if best is None:
        return None, None
    budget = plan.target.p99_ms if plan.target.p99_ms is not None else best.p99_ms * 1.5
    size, timeout = queue_policy_for(best.throughput, best.p50_ms, budget)
    chosen = replace(knobs, max_queue_size=size, queue_timeout_ms=timeout)
    if plan.overload_s <= 0:
        return chosen, None
    concurrency = max(OVERLOAD_FACTOR * max(best.concurrency, 1), 16)
    result = None
    for attempt in range(TIGHTENINGS + 1):
        serve(chosen)
        say(f"queue policy: max_queue_size {chosen.max_queue_size}, timeout {chosen.queue_timeout_ms} ms; "
            f"overload check at c{concurrency} for {plan.overload_s:g} s …")
        result = overload(url, plan.model, TEXT_INPUT, plan.texts, concurrency, plan.overload_s, budget / 1000)
        say(f"    {result.answered} answered, p99 {result.answered_p99_ms:.1f} ms; {result.refused} refused "
            f"(median {result.refused_p50_ms:.1f} ms)")
        if result.answered_p99_ms <= budget or chosen.max_queue_size == 1 or attempt == TIGHTENINGS:
            break
        chosen = replace(chosen, max_queue_size=max(1, chosen.max_queue_size // 2),
                         queue_timeout_ms=max(1, chosen.queue_timeout_ms // 2))
    return chosen, result
