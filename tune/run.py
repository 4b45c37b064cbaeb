"""One tuning run: the defaults, the search, a confirmation of the winner, its queue policy, the report."""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from tritonize.errors import TritonizeError
from tune import report, space
from tune.errors import TuneUsageError
from tune.knobs import Ensemble, Knobs, read_knobs
from tune.overload import OverloadResult
from tune.plan import Plan
from tune.queue import TIGHTENINGS, choose_queue_policy
from tune.search import CoordinateSearch, Trial
from tune.serving import LocalServing, RemoteServing, read_models, remote_models
from tune.session import Session
from tune.variants import export_variants
from tune.write import write_winner

#: Queue policy while searching: none, so perf_analyzer's load is never refused and each level measures capacity.
NO_SHEDDING = {"max_queue_size": 0, "queue_timeout_ms": 0}


def tune(plan: Plan, say: Callable[[str], None], previous: dict | None = None) -> report.Outcome:
    """Run the search and what follows it; return everything measured.

    A Ctrl-C, or an error once something was measured, ends the run early with what was measured
    (``Outcome.interrupted``, ``Outcome.error``).

    Raises:
        TuneUsageError: The model is missing or not a text ensemble; variants asked with ``--url``.
        TuneError: The defaults could not be served.
        PerfAnalyzerError: perf_analyzer is missing.
    """
    began = time.monotonic()
    if plan.url and plan.variants:
        raise TuneUsageError("Variants (--optimize, --quantize, --fp16) need the local server: tune exports them "
                             "into its scratch copy; leave out --url or the variant flags")
    roles, configs = remote_models(plan.url, plan.model) if plan.url else read_models(plan.repository, plan.model)
    seed = replace(read_knobs(configs, roles), **NO_SHEDDING)
    notes: list[str] = []
    session: Session | None = None
    search: CoordinateSearch | None = None
    final: Knobs | None = None
    checked: OverloadResult | None = None
    confirmation: tuple[int, int] | None = None
    winner: Knobs | None = None
    interrupted = False
    stopped = ""
    with tempfile.TemporaryDirectory(prefix="tritonize-tune-") as tmp:
        work = Path(tmp)
        serving = RemoteServing(plan.url, roles) if plan.url else LocalServing(plan.repository, roles, work)
        try:
            versions, variant_files = _variants(plan, roles, serving, work, notes, say)
            say(f"starting {plan.url or 'the local Triton'} …")
            serving.start()
            session = Session(plan, roles, configs, serving, versions, work, say, began)
            search = CoordinateSearch(space.axes(plan.cores, plan.gpus, tuple(v for v in plan.variants
                                                                              if v in versions),
                                                 tokenizer_model=not roles.one_step),
                                      min_gain=plan.min_gain, max_passes=plan.max_passes)
            run = session

            def progress(trial: Trial, best: Trial) -> None:
                run.name_axis(trial.axis)
                say(f"  → #{trial.index}: {report.describe_score(trial.score, plan.target)}; best so far "
                    f"#{best.index}: {report.describe_score(best.score, plan.target)}")

            def out_of_time() -> bool:
                if plan.max_candidates is not None and len(run.rows) >= plan.max_candidates:
                    return True
                return time.monotonic() - began + reserve(run.rows, plan) > plan.budget_s

            found = search.run(seed, lambda k: run.evaluate(k, seed, search.best.knobs if search.best else None),
                               out_of_time, progress)
            winner, confirmation = _confirm(session, found.knobs, seed, plan, notes, say)
            if any(r.score.feasible for r in session.rows if r.knobs == winner):
                final, checked = choose_queue_policy(winner, session.levels.get(winner, ()), plan, session.serve,
                                                     serving.url, say)
            if plan.write and final is not None and plan.repository is not None:
                notes.append(_write(plan.repository, plan.model, final, variant_files.get(final.variant)))
        except KeyboardInterrupt:
            interrupted = True
            notes.append("Interrupted (Ctrl-C): the table holds what was measured until then.")
        except TritonizeError as error:  # the server died, perf_analyzer vanished: keep what was measured
            if session is None or not session.rows:
                raise
            interrupted, stopped = True, str(error)
            notes.append(f"Stopped by an error: {error}. The table holds what was measured until then.")
        finally:
            serving.close()
    rows = tuple(session.rows) if session else ()
    outcome = report.Outcome(
        model=plan.model, target=plan.target, rows=rows, defaults=seed,
        winner=_winner_row(rows, winner, interrupted), final=final, overload=checked,
        flat=tuple(search.flat) if search else (), notes=tuple(notes),
        machine={"cores": plan.cores, "gpus": plan.gpus, "url": plan.url or "local Triton",
                 "texts": len(plan.texts), "texts_sha256": texts_digest(plan.texts)},
        seconds=time.monotonic() - began, interrupted=interrupted, confirmation=confirmation, error=stopped)
    if previous is not None:
        outcome = replace(outcome, notes=outcome.notes + tuple(report.compare(previous, outcome)))
    return outcome


def reserve(rows: Sequence[report.Row], plan: Plan) -> float:
    """Seconds kept from the budget for what follows the search.

    Two confirming measurements (of the mean candidate's length) and the overload checks of the queue policy.
    """
    mean = sum(r.seconds for r in rows) / len(rows) if rows else 0.0
    return 2 * mean + (TIGHTENINGS + 1) * plan.overload_s


def _variants(plan: Plan, roles: Ensemble, serving: LocalServing | RemoteServing, work: Path, notes: list[str],
              say: Callable[[str], None]) -> tuple[dict[str, int], dict[str, Path]]:
    """Export, gate and stage the variants asked for; their version folders and files, by name."""
    versions: dict[str, int] = {}
    files: dict[str, Path] = {}
    if not isinstance(serving, LocalServing) or not plan.variants:
        return versions, files
    for variant in export_variants(plan.variants, plan.source, roles.ensemble, "gpu" if plan.gpus else "cpu", work,
                                   say, one_step=roles.one_step):
        if variant.files is None:
            notes.append(f"Variant {variant.name} dropped: {variant.verdict}.")
            continue
        versions.setdefault("fp32", serving.artifact_version())
        versions[variant.name] = serving.add_variant(variant.files)
        files[variant.name] = variant.files
    return versions, files


def _confirm(session: Session, winner: Knobs, seed: Knobs, plan: Plan, notes: list[str],
             say: Callable[[str], None]) -> tuple[Knobs, tuple[int, int] | None]:
    """Measure the defaults and the winner once more, back to back; the winner stands only if it wins again.

    Returns:
        The winner that stands, and the row indices of the confirming measurements (defaults, winner).
    """
    if winner == seed:
        return winner, None
    say("confirming: the defaults and the winner once more, back to back …")
    again_defaults = session.evaluate(seed, seed, seed, "confirm")
    again_winner = session.evaluate(winner, seed, winner, "confirm")
    rows = (len(session.rows) - 1, len(session.rows))
    if again_winner.beats(again_defaults, plan.min_gain):
        return winner, rows
    if again_winner.value == float("-inf"):
        notes.append("The winner could not be measured again (see the confirm rows): the defaults stay.")
        return seed, rows
    notes.append("The winner did not beat the defaults again when measured back to back: the defaults stay "
                 "(the difference was within the machine's noise).")
    return seed, rows


def _winner_row(rows: Sequence[report.Row], winner: Knobs | None, interrupted: bool) -> report.Row | None:
    """The row of the winner: its latest measurement (the confirming one, if any); on an interrupt, the best row."""
    if not rows:
        return None
    if interrupted or winner is None:
        return max(rows, key=lambda r: (r.score, -r.index))
    return [r for r in rows if r.knobs == winner][-1]


def _write(repository: Path, model: str, knobs: Knobs, variant_files: Path | None) -> str:
    """Write the winner (over the user's own configs, read again now) and say what was written.

    Raises:
        RepositoryError: The repository cannot be written.
    """
    roles, configs = read_models(repository, model)
    version, written = write_winner(repository, roles, configs, knobs, variant_files)
    if not written:
        return "Written: nothing (the export's own config won)."
    return f"Written: version {version} of {', '.join(written)} into {repository}."


def texts_digest(texts: Sequence[str]) -> str:
    """SHA-256 of the texts, so a rerun knows it served the same ones."""
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()
