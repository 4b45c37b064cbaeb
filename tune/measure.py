"""Measure one candidate through the real ensemble: perf_analyzer with the user's texts, level by level.

Each level is perf_analyzer's stable measurement (``--measurement-interval`` windows, repeated until three agree
within ``--stability-percentage``, at most ``--max-trials``; a level whose windows never agree is tried once more
with windows twice as long) of one text per request, the texts taken in order
from the user's file, so the served token lengths are the file's. Triton's statistics before and after each level
give the per-step queue and compute split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from client.bench_report import LevelResult, level_result
from client.errors import ClientError, PerfAnalyzerError
from client.perf_analyzer import LoadLevel, PerfSettings, find_perf_analyzer, run_level
from client.server_stats import stage_times
from client.text_client import TextClient
from tune.objective import LADDER, Target, next_concurrency


@dataclass(frozen=True)
class Measured:
    """What one candidate's levels gave.

    Attributes:
        levels: Every level measured, in order.
        failure: Why a level could not be measured (perf_analyzer's own words), if one could not; the
            levels above it are not tried.
    """

    levels: tuple[LevelResult, ...]
    failure: str = ""


class Meter:
    """Measures candidates on one server with one perf_analyzer input file.

    Attributes:
        settings: perf_analyzer's URL, protocol and windows.
        target: What the search optimises (decides the levels).
        ladder: Concurrency levels a p99 budget may use.
    """

    def __init__(self, url: str, ensemble: str, settings: PerfSettings, input_data: Path, workdir: Path,
                 target: Target, ladder: Sequence[int] = LADDER) -> None:
        """Measure ``ensemble`` at ``url`` with perf_analyzer's ``--input-data`` file ``input_data``.

        Raises:
            PerfAnalyzerError: perf_analyzer is missing.
        """
        self.settings = settings
        self.target = target
        self.ladder = tuple(ladder)
        self._url, self._ensemble, self._data, self._workdir = url, ensemble, input_data, workdir
        self._binary = find_perf_analyzer()
        self._runs = 0

    def measure(self, start: int, on_level: Callable[[LevelResult], None] | None = None) -> Measured:
        """Measure the candidate now loaded: the levels the target asks for, starting at concurrency ``start``."""
        levels: list[LevelResult] = []
        with TextClient(self._url) as client:
            stages = client.stages(self._ensemble)
            while True:
                level = self._next(levels, start)
                if level is None:
                    return Measured(tuple(levels))
                before = _counters(client, stages)
                self._runs += 1
                try:
                    row = self._run(level)
                except PerfAnalyzerError as error:
                    return Measured(tuple(levels), str(error))
                row.setdefault("Concurrency", float(level.concurrency or 0))
                if level.request_rate is not None:
                    row["Request Rate"] = level.request_rate
                after = _counters(client, stages)
                split = stage_times(before, after) if before and after else ()
                levels.append(level_result(self._ensemble, row, split))
                if on_level:
                    on_level(levels[-1])

    def _run(self, level: LoadLevel) -> dict[str, float]:
        """perf_analyzer's row for ``level``; windows that never agree are tried once more, twice as long.

        Raises:
            PerfAnalyzerError: It failed, or its windows did not agree the second time either.
        """
        try:
            return run_level(self._ensemble, level, self.settings, self._data,
                             self._workdir / f"run-{self._runs}.csv", self._binary)
        except PerfAnalyzerError as error:
            if "stable" not in str(error):
                raise
        longer = replace(self.settings, measurement_interval_ms=2 * self.settings.measurement_interval_ms)
        return run_level(self._ensemble, level, longer, self._data, self._workdir / f"run-{self._runs}-again.csv",
                         self._binary)

    def _next(self, levels: Sequence[LevelResult], start: int) -> LoadLevel | None:
        if self.target.min_throughput is not None:
            return None if levels else LoadLevel(request_rate=self.target.min_throughput)
        assert self.target.p99_ms is not None
        concurrency = next_concurrency(levels, self.target.p99_ms, start, self.ladder)
        return None if concurrency is None else LoadLevel(concurrency=concurrency)


def _counters(client: TextClient, stages: Sequence[str]) -> dict:
    """Triton's statistics of every step, or nothing when the server did not answer them (no split then)."""
    try:
        return client.counters(stages)
    except ClientError:
        return {}
