"""What one tuning run tunes and how long it may look."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tune.objective import LADDER, Target


@dataclass(frozen=True)
class Plan:
    """What one run tunes and how long it may look.

    Attributes:
        model: The ensemble to tune.
        texts: The user's texts (one per request, in order).
        target: What to optimise.
        budget_s: Time for the search; it stops with the best so far.
        max_candidates: Candidates the search measures at most (``None``: as many as the budget allows).
        repository: The exported repository (local serving, ``--write``).
        url: A running Triton in explicit mode instead of the local one.
        cores: CPU cores the instances may use.
        gpus: GPUs (instances per GPU are searched instead of threads).
        variants: Accelerated variants to export, gate and time (local serving only).
        source: The model the variants are exported from (``None``: the bundled MiniLM).
        window_ms: perf_analyzer measurement window.
        stability_percentage: perf_analyzer's windows must agree within this.
        max_trials: perf_analyzer windows before a level counts as unstable.
        min_gain: Relative gain below which two candidates count as equal.
        max_passes: Passes of the coordinate descent.
        max_concurrency: Highest concurrency a candidate is measured at.
        overload_s: Seconds of the overload check of the chosen queue policy (0 skips it).
        write: Write the winner into ``repository`` as a new version of the models it changes.
    """

    model: str
    texts: tuple[str, ...]
    target: Target
    budget_s: float
    max_candidates: int | None = None
    repository: Path | None = None
    url: str | None = None
    cores: int = 1
    gpus: int = 0
    variants: tuple[str, ...] = ()
    source: str | None = None
    window_ms: int = 2000
    stability_percentage: int = 10
    max_trials: int = 6
    min_gain: float = 0.03
    max_passes: int = 2
    max_concurrency: int = LADDER[-1]
    overload_s: float = 5.0
    write: bool = False
