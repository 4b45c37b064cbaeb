"""Command line of ``python -m tune``: options → Plan → search → table, plot, JSON, and the winner on request."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from tritonize.cli_errors import debug_option, report, requires_extras
from tritonize.errors import TritonizeError
from tune.errors import TuneError, TuneUsageError
from tune.objective import Target
from tune.plan import Plan
from tune.run import texts_digest

#: Bundled corpora (offline, real English): short sentences and paragraphs.
CORPORA = ("short", "long")


def load_texts(texts: Path | None, corpus: str, count: int) -> tuple[str, ...]:
    """The user's texts (first ``count``), or ``count`` texts of a bundled corpus.

    Raises:
        InputError: The file cannot be read or holds an invalid line.
        TuneUsageError: It holds no text.
    """
    from client.corpus import corpus as sentences
    from client.corpus import paragraphs
    from client.texts import read_file

    found = read_file(texts)[:count] if texts else (sentences if corpus == "short" else paragraphs)(count)
    if not found:
        raise TuneUsageError(f"{texts} holds no text")
    return tuple(found)


def locate(model: str, repository: Path) -> tuple[Path, str]:
    """``(repository, ensemble name)`` from a name in ``repository`` or the path of a model folder."""
    path = Path(model)
    if (path / "config.pbtxt").is_file() and (len(path.parts) > 1 or not (repository / model).is_dir()):
        return path.resolve().parent, path.resolve().name
    return repository, model


def previous_run(output: Path, model: str, target: Target, digest: str) -> dict | None:
    """The newest earlier ``tune.json`` of the same model, target and texts, for the rerun comparison."""
    for path in sorted(output.glob(f"{model}-*/tune.json"), reverse=True):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("target") == {"p99_ms": target.p99_ms, "min_throughput": target.min_throughput} and \
                data.get("machine", {}).get("texts_sha256") == digest:
            return data
    return None


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("model")
@click.option("--repository", type=click.Path(file_okay=False, path_type=Path), default=Path("model_repository"),
              envvar="TRITONIZE_REPOSITORY", show_envvar=True, help="Repository the model was exported into.")
@click.option("--texts", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Your texts, one per line (or .jsonl with a 'text' field): their token lengths are what is "
                   "served [default: a bundled corpus].")
@click.option("--corpus", type=click.Choice(CORPORA), default="short", help="Bundled corpus when no --texts.")
@click.option("--text-count", type=click.IntRange(min=1), default=512, help="Texts used (the first N).")
@click.option("--p99-ms", type=click.FloatRange(min=0, min_open=True),
              help="Target: maximise throughput with p99 latency within this budget.")
@click.option("--min-throughput", type=click.FloatRange(min=0, min_open=True),
              help="Target: minimise p99 latency at this many requests per second.")
@click.option("--budget-s", type=click.FloatRange(min=0), default=600.0,
              help="Time for the search; it stops with the best so far.")
@click.option("--max-candidates", type=click.IntRange(min=1),
              help="Candidates the search measures at most [default: as many as --budget-s allows].")
@click.option("--url", help="A running Triton started with --model-control-mode=explicit (GPU hosts) instead of "
                            "the local one; candidates are loaded with their config through its API.")
@click.option("--cores", type=click.IntRange(min=1), default=len(os.sched_getaffinity(0)),
              help="CPU cores the model instances may use (instances x threads are searched within them).")
@click.option("--gpus", type=click.IntRange(min=0), default=0,
              help="GPUs of the server: instances per GPU are searched instead of CPU threads.")
@click.option("--optimize", is_flag=True, help="Also time the ONNX Runtime fused variant, if it passes its gate.")
@click.option("--quantize", type=click.Choice(["int8"]), help="Also time the INT8 variant, if it passes its gate.")
@click.option("--fp16", is_flag=True, help="Also time the FP16 variant (GPU), if it passes its gate.")
@click.option("--source", help="Hub id or folder the variants are exported from [default: the bundled MiniLM].")
@click.option("--window-ms", type=click.IntRange(min=100), default=2000, help="perf_analyzer measurement window.")
@click.option("--stability-percentage", type=click.IntRange(min=1), default=10,
              help="perf_analyzer's windows must agree within this.")
@click.option("--max-trials", type=click.IntRange(min=3), default=6,
              help="perf_analyzer windows before a level counts as unstable.")
@click.option("--min-gain", type=click.FloatRange(min=0), default=0.03,
              help="A candidate replaces the best only if better by more than this share (noise).")
@click.option("--max-passes", type=click.IntRange(min=1), default=2, help="Passes over every knob at most.")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=128,
              help="Highest concurrency a candidate is measured at (levels 1, 2, 4, … up to it).")
@click.option("--overload-s", type=click.FloatRange(min=0), default=5.0,
              help="Seconds of the overload check of the chosen queue policy (0 skips it).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("tune-results"),
              help="Each run writes tune.md, tune.json and tune.png into a folder here.")
@click.option("--write", "write_", is_flag=True,
              help="Write the winner into the repository as a new version of the models it changes.")
@click.option("--quiet", "-q", is_flag=True, help="No progress; only the table and the result folder.")
@debug_option()
@requires_extras
def main(model: str, repository: Path, texts: Path | None, corpus: str, text_count: int, p99_ms: float | None,
         min_throughput: float | None, budget_s: float, max_candidates: int | None, url: str | None, cores: int,
         gpus: int, optimize: bool, quantize: str | None, fp16: bool, source: str | None, window_ms: int,
         stability_percentage: int, max_trials: int, min_gain: float, max_passes: int, max_concurrency: int,
         overload_s: float, output_dir: Path, write_: bool, quiet: bool, debug: bool) -> None:
    """Find the serving config of MODEL (an exported ensemble) for a p99 budget or a required rate.

    With --p99-ms, the most throughput whose p99 stays within the budget; with --min-throughput, the lowest p99
    at that rate. Searches instances x threads, the batcher, the length buckets, the tokenizer and, when asked,
    accelerated variants, by coordinate descent from the export's own config within --budget-s; then sizes the
    queue policy so that overload is refused at once instead of waiting past the budget.

    MODEL is the ensemble's name in --repository, or the path of its folder. Each candidate rewrites only the
    models' configs and reloads them in Triton (explicit model control); the texts are sent as they are, one per
    request, with perf_analyzer. Ctrl-C keeps what was measured. Exit codes: 0 done, 1 failed, 2 usage error,
    130 interrupted.
    """
    from tune import report as tables
    from tune.run import tune

    outcome = None
    try:
        if (p99_ms is None) == (min_throughput is None):
            raise TuneUsageError("Give one target: --p99-ms (max throughput within a p99 budget) or "
                                 "--min-throughput (min p99 at a rate)")
        if write_ and url and not (repository / model).is_dir():
            raise TuneUsageError("--write with --url needs --repository: the repository that server serves")
        repository, name = locate(model, repository)
        target = Target(p99_ms, min_throughput)
        chosen = load_texts(texts, corpus, text_count)
        digest = texts_digest(chosen)
        variants = tuple(v for v, on in (("optimize", optimize), ("int8", bool(quantize)), ("fp16", fp16)) if on)
        plan = Plan(model=name, texts=chosen, target=target, budget_s=budget_s, max_candidates=max_candidates,
                    repository=repository, url=url, cores=cores, gpus=gpus, variants=variants, source=source,
                    window_ms=window_ms, stability_percentage=stability_percentage, max_trials=max_trials,
                    min_gain=min_gain, max_passes=max_passes, max_concurrency=max_concurrency, overload_s=overload_s,
                    write=write_)
        previous = previous_run(output_dir, name, target, digest)

        def say(line: str) -> None:
            if not quiet:
                click.echo(line, err=True)

        outcome = tune(plan, say, previous)
        folder = output_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        tables.write(outcome, folder)
        click.echo(tables.markdown(outcome))
        click.echo(folder)
        if outcome.error:
            raise TuneError(outcome.error)
    except TritonizeError as error:
        raise report(error, debug) from None
    if outcome is not None and outcome.interrupted:
        sys.exit(130)

