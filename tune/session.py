"""One server and its candidates: serve a candidate's configs, measure it, keep its row."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from client.bench_report import LevelResult
from client.perf_analyzer import PerfSettings, text_input_data
from tritonize.repo_format.tokenizer_encoding import TEXT_INPUT
from tune import report
from tune.errors import TuneError
from tune.knobs import Ensemble, Knobs, apply_knobs, changed_models
from tune.measure import Meter
from tune.objective import LADDER, Score, best_level, score
from tune.plan import Plan
from tune.serving import LocalServing, RemoteServing, pin_version


class Session:
    """Candidates served one after another on one server; every measurement becomes a :class:`report.Row`.

    Attributes:
        rows: Every candidate measured, in order.
        levels: The levels measured for each candidate (the latest measurement).
        versions: The artifact's version folder of each variant (empty without variants).
    """

    def __init__(self, plan: Plan, roles: Ensemble, configs: dict[str, mc.ModelConfig],
                 serving: LocalServing | RemoteServing, versions: dict[str, int], workdir: Path,
                 say: Callable[[str], None], began: float | None = None) -> None:
        """Serve on ``serving`` (started) with ``configs`` as exported; perf_analyzer's input goes into ``workdir``.

        ``began`` is when the run started (``time.monotonic()``), for the progress lines; now when ``None``.

        Raises:
            PerfAnalyzerError: perf_analyzer is missing.
        """
        self.rows: list[report.Row] = []
        self.levels: dict[Knobs, tuple[LevelResult, ...]] = {}
        self.versions = versions
        self._plan, self._roles, self._configs, self._serving, self._say = plan, roles, configs, serving, say
        self._current = dict(configs)
        self._began = time.monotonic() if began is None else began
        data = workdir / "input.json"
        data.write_text(json.dumps(text_input_data(TEXT_INPUT, plan.texts)))
        settings = PerfSettings(url=serving.url.split("://")[-1], measurement_interval_ms=plan.window_ms,
                                stability_percentage=plan.stability_percentage, max_trials=plan.max_trials)
        ladder = [c for c in LADDER if c <= plan.max_concurrency] or [1]
        self._meter = Meter(serving.url, plan.model, settings, data, workdir, plan.target, ladder)

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self._began

    def serve(self, knobs: Knobs) -> None:
        """Rewrite the configs ``knobs`` change and reload those models.

        Raises:
            TuneError: A model did not load.
        """
        new = apply_knobs(self._configs, self._roles, knobs)
        if self.versions:
            new[self._roles.artifact] = pin_version(new[self._roles.artifact], self.versions[knobs.variant])
        self._serving.apply(new, changed_models(self._current, new))
        self._current = new

    def evaluate(self, knobs: Knobs, base: Knobs, start_from: Knobs | None, axis: str = "") -> Score:
        """Serve and measure ``knobs``; record its row; return its score.

        Args:
            knobs: The candidate.
            base: What tables compare it with (the defaults).
            start_from: The candidate whose best level the ladder starts at (the incumbent), if any.
            axis: The knob being walked, for the table (the search names it after the fact).
        """
        started = time.monotonic()
        index = len(self.rows) + 1
        self._say(f"candidate {index} ({self.elapsed:.0f} of {self._plan.budget_s:g} s): {knobs.describe(base)}")
        best = best_level(self.levels.get(start_from, ()), self._plan.target) if start_from is not None else None
        start = best.concurrency if best is not None and best.concurrency else 1
        try:
            self.serve(knobs)
            measured = self._meter.measure(start, self._say_level)
        except TuneError as error:
            self.rows.append(report.Row(index, axis, knobs, Score(False, float("-inf")), (), str(error),
                                        time.monotonic() - started))
            self._say(f"    not measured: {error}")
            return self.rows[-1].score
        if measured.failure:
            self._say(f"    {measured.failure}")
        result = score(measured.levels, self._plan.target)
        if measured.levels:  # a failed re-measurement keeps what the candidate measured before
            self.levels[knobs] = measured.levels
        self.rows.append(report.Row(index, axis, knobs, result, measured.levels, measured.failure,
                                    time.monotonic() - started))
        return result

    def name_axis(self, axis: str) -> None:
        """Name the knob walked for the last row."""
        self.rows[-1] = replace(self.rows[-1], axis=axis)

    def _say_level(self, point: LevelResult) -> None:
        label = f"c{point.concurrency}" if not point.request_rate else f"r{point.request_rate:g}"
        self._say(f"    {label}: {point.throughput:.0f} infer/s, p50 {point.p50_ms:.1f} ms, p99 {point.p99_ms:.1f} ms")
