"""One tuning run: serve each candidate, measure it, search, choose the queue policy, report."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from client.bench_report import LevelResult
from client.perf_analyzer import PerfSettings, text_input_data
from tritonize.repo_format.tokenizer_encoding import TEXT_INPUT
from tune import report, space
from tune.errors import TuneError, TuneUsageError
from tune.knobs import Knobs, apply_knobs, changed_models, read_knobs
from tune.measure import Meter
from tune.objective import LADDER, Score, Target, best_level, queue_policy_for, score
from tune.overload import overload
from tune.search import CoordinateSearch, Trial
from tune.serving import LocalServing, RemoteServing, pin_version, read_models, remote_models
from tune.variants import export_variants
from tune.write import write_winner


@dataclass(frozen=True)
class Plan:
    """What one run tunes and how long it may look.

    Attributes:
        model: The ensemble to tune.
        texts: The user's texts (one per request, in order).
        target: What to optimise.
        budget_s: Time for the search; it stops with the best so far.
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


#: Queue policy while searching: none, so perf_analyzer's load is never refused and each level measures capacity.
NO_SHEDDING = {"max_queue_size": 0, "queue_timeout_ms": 0}


def tune(plan: Plan, say: Callable[[str], None], previous: dict | None = None) -> report.Outcome:
    """Run the search; a Ctrl-C ends it with what was measured (``Outcome.interrupted``).

    Raises:
        TuneUsageError: The model is missing or not a text ensemble; variants asked with ``--url``.
        TuneError: The defaults could not be served.
        PerfAnalyzerError: perf_analyzer is missing.
    """
    began = time.monotonic()
    if plan.url:
        if plan.variants:
            raise TuneUsageError("Variants (--optimize, --quantize, --fp16) need the local server: tune exports "
                                 "them into its scratch copy; leave out --url or the variant flags")
        roles, configs = remote_models(plan.url, plan.model)
    else:
        assert plan.repository is not None
        roles, configs = read_models(plan.repository, plan.model)
    defaults = read_knobs(configs, roles)
    seed = search_defaults_of(defaults)
    rows: list[report.Row] = []
    notes: list[str] = []
    search: CoordinateSearch | None = None
    outcome_final: Knobs | None = None
    overload_result = None
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="tritonize-tune-") as tmp:
        work = Path(tmp)
        serving = RemoteServing(plan.url, roles) if plan.url else LocalServing(plan.repository, roles, work)
        versions: dict[str, int] = {}
        variant_files: dict[str, Path] = {}
        try:
            if isinstance(serving, LocalServing) and plan.variants:
                kind = "gpu" if plan.gpus else "cpu"
                for variant in export_variants(plan.variants, plan.source, roles.ensemble, kind, work, say):
                    if variant.files is None:
                        notes.append(f"Variant {variant.name} dropped: {variant.verdict}.")
                        continue
                    versions.setdefault("fp32", serving.artifact_version())
                    versions[variant.name] = serving.add_variant(variant.files)
                    variant_files[variant.name] = variant.files
            say(f"starting {'the local Triton' if not plan.url else plan.url} …")
            serving.start()
            data = work / "input.json"
            data.write_text(json.dumps(text_input_data(TEXT_INPUT, plan.texts)))
            settings = PerfSettings(url=serving.url.split("://")[-1], measurement_interval_ms=plan.window_ms,
                                    stability_percentage=plan.stability_percentage, max_trials=plan.max_trials)
            meter = Meter(serving.url, plan.model, settings, data, work, plan.target,
                          [c for c in LADDER if c <= plan.max_concurrency] or [1])
            current = dict(configs)
            levels_of: dict[Knobs, tuple[LevelResult, ...]] = {}

            def configs_for(knobs: Knobs) -> dict:
                new = apply_knobs(configs, roles, knobs)
                if versions:
                    new[roles.artifact] = pin_version(new[roles.artifact], versions[knobs.variant])
                return new

            def serve(knobs: Knobs) -> None:
                nonlocal current
                new = configs_for(knobs)
                serving.apply(new, changed_models(current, new))
                current = new

            def evaluate(knobs: Knobs) -> Score:
                started = time.monotonic()
                index = len(rows) + 1
                say(f"candidate {index} ({time.monotonic() - began:.0f} of {plan.budget_s:g} s): "
                    f"{knobs.describe(seed)}")
                best = search.best if search is not None else None
                start = best_start(levels_of.get(best.knobs, ()) if best else (), plan.target)
                try:
                    serve(knobs)
                    measured = meter.measure(start, lambda p: say(
                        f"    c{p.concurrency}: {p.throughput:.0f} infer/s, p50 {p.p50_ms:.1f} ms, "
                        f"p99 {p.p99_ms:.1f} ms"))
                except TuneError as error:
                    rows.append(report.Row(index, "", knobs, Score(False, float("-inf")), (), str(error),
                                           time.monotonic() - started))
                    say(f"    not measured: {error}")
                    return rows[-1].score
                result = score(measured.levels, plan.target)
                if measured.failure:
                    say(f"    {measured.failure}")
                levels_of[knobs] = measured.levels
                rows.append(report.Row(index, "", knobs, result, measured.levels, measured.failure,
                                       time.monotonic() - started))
                return result

            axes = space.axes(plan.cores, plan.gpus, tuple(v for v in plan.variants if v in versions))
            search = CoordinateSearch(axes, min_gain=plan.min_gain, max_passes=plan.max_passes)

            def progress(trial: Trial, best: Trial) -> None:
                rows[-1] = replace(rows[-1], axis=trial.axis)
                say(f"  → #{trial.index}: {report.describe_score(trial.score, plan.target)}; best so far "
                    f"#{best.index}: {report.describe_score(best.score, plan.target)}")

            search.run(seed, evaluate, lambda: time.monotonic() - began > plan.budget_s, progress)
            winner = search.best
            if winner is not None and winner.score.feasible:
                outcome_final, overload_result = choose_queue_policy(
                    winner.knobs, levels_of.get(winner.knobs, ()), plan, serve, serving.url, say)
            if plan.write and outcome_final is not None and plan.repository is not None:
                notes.append(write_winner_note(plan.repository, plan.model, outcome_final,
                                               variant_files.get(outcome_final.variant)))
        except KeyboardInterrupt:
            interrupted = True
            notes.append("Interrupted (Ctrl-C): the table holds what was measured until then.")
        finally:
            serving.close()
    winner_row = None
    if rows and (interrupted or search is None or search.best is None):
        winner_row = max(rows, key=lambda r: (r.score, -r.index))
    elif rows and search is not None and search.best is not None:
        winner_row = next(r for r in rows if r.knobs == search.best.knobs)
    outcome = report.Outcome(
        model=plan.model, target=plan.target, rows=tuple(rows), defaults=seed,
        winner=winner_row, final=outcome_final, overload=overload_result,
        flat=tuple(search.flat) if search else (), notes=tuple(notes),
        machine={"cores": plan.cores, "gpus": plan.gpus, "url": plan.url or "local Triton",
                 "texts": len(plan.texts), "texts_sha256": texts_digest(plan.texts)},
        seconds=time.monotonic() - began, interrupted=interrupted)
    if previous is not None:
        outcome = replace(outcome, notes=outcome.notes + tuple(report.compare(previous, outcome)))
    return outcome


def texts_digest(texts: Sequence[str]) -> str:
    """SHA-256 of the texts, so a rerun knows it served the same ones."""
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()


def write_winner_note(repository: Path, model: str, knobs: Knobs, variant_files: Path | None) -> str:
    """Write the winner (from the user's own configs, re-read now) and say what was written.

    Raises:
        RepositoryError: The repository cannot be written.
    """
    roles, configs = read_models(repository, model)
    version, written = write_winner(repository, roles, configs, knobs, variant_files)
    if not written:
        return "Written: nothing (the defaults won)."
    return f"Written: version {version} of {', '.join(written)} into {repository}."


def search_defaults_of(defaults: Knobs) -> Knobs:
    """The defaults as the search measures them (no load shedding)."""
    return replace(defaults, **NO_SHEDDING)


def best_start(levels: Sequence[LevelResult], target: Target) -> int:
    """The concurrency to start a neighbour at: the incumbent's best level, else 1."""
    best = best_level(levels, target)
    return best.concurrency if best is not None and best.concurrency else 1


def choose_queue_policy(knobs: Knobs, levels: Sequence[LevelResult], plan: Plan, serve: Callable[[Knobs], None],
                        url: str, say: Callable[[str], None]):  # noqa: ANN201 - a pair, see below
    """The winner's queue policy from its measured capacity, checked under overload and tightened if needed.

    Returns:
        ``(knobs with the policy, the last overload check or None)``.
    """
    best = best_level(levels, plan.target)
    if best is None:
        return knobs, None
    budget = plan.target.p99_ms if plan.target.p99_ms is not None else best.p99_ms * 1.5
    size, timeout = queue_policy_for(best.throughput, best.p50_ms, budget)
    chosen = replace(knobs, max_queue_size=size, queue_timeout_ms=timeout)
    if plan.overload_s <= 0:
        return chosen, None
    result = None
    for _ in range(3):
        serve(chosen)
        concurrency = max(4 * max(best.concurrency, 1), 16)
        say(f"queue policy: max_queue_size {chosen.max_queue_size}, timeout {chosen.queue_timeout_ms} ms; "
            f"overload check at c{concurrency} for {plan.overload_s:g} s …")
        result = overload(url, plan.model, TEXT_INPUT, plan.texts, concurrency, plan.overload_s, budget / 1000)
        say(f"    {result.answered} answered, p99 {result.answered_p99_ms:.1f} ms; {result.refused} refused "
            f"(median {result.refused_p50_ms:.1f} ms)")
        if result.answered_p99_ms <= budget or chosen.max_queue_size == 1:
            break
        chosen = replace(chosen, max_queue_size=max(1, chosen.max_queue_size // 2),
                         queue_timeout_ms=max(1, chosen.queue_timeout_ms // 2))
    return chosen, result
