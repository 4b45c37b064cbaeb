"""``client``: health, repository, model configs and text predictions against a Triton server.

The library raises :class:`~client.errors.ClientError`; this module alone turns errors into one line on stderr
and an exit status (through :mod:`tritonize.cli_errors`, as the export and server CLIs do): 1 for failures,
2 for usage errors. ``--debug`` adds the stack trace; ``--verbose`` adds request details (texts, batches,
timing), nothing else.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypeVar

import click

from client import bench_report, output
from client.bench import DEFAULT_CONCURRENCY
from client.bench_report import LevelResult
from client.connection import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, PROTOCOLS
from client.errors import InputError, PerfAnalyzerError
from client.image_client import ImageClient
from client.images import read_images
from client.perf_analyzer import LoadLevel, PerfSettings
from client.plan import DEFAULT_REQUEST_TEXTS, RequestPlan
from client.results import Prediction
from client.text_client import IN_FLIGHT, SORT_WINDOW, TextClient
from client.texts import InputTexts, parse_input, read_file, read_input
from tritonize.admin_key import API_KEY_ENV, API_KEY_HEADER
from tritonize.cli_errors import click_error, debug_option, missing_extra, report
from tritonize.errors import TritonizeError

STDIN = "-"
F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Settings:
    """The group's options, shared by every command through ``ctx.obj``.

    Attributes:
        url: Server URL (``None``: localhost on the protocol's default port).
        protocol: ``http`` or ``grpc`` (``None``: from the URL's scheme, else http).
        timeout: Seconds to wait for a connection and for each answer.
        retries: Extra attempts for connection errors and 503/UNAVAILABLE answers.
        verbose: Show request details (texts, batches, timing) on stderr.
        debug: Show stack traces on stderr.
        api_key: Key of the server's administrative APIs (the ``models`` listing needs it where it is set).
    """

    url: str | None
    protocol: str | None
    timeout: float
    retries: int
    verbose: bool
    debug: bool = False
    api_key: str | None = None

    def client(self) -> ImageClient:
        """A client for these settings (texts and images), closed when the command ends."""
        client = ImageClient(self.url, self.protocol, timeout=self.timeout, retries=self.retries,
                             api_key=self.api_key)
        click.get_current_context().call_on_close(client.close)
        return client


def _input_options(model_help: str, items: str = "texts") -> Callable[[F], F]:
    """``--model``, ``--file`` and ``--field``: where a command's model and its input ``items`` come from."""
    options = (
        click.option("--model", "-m", envvar="TRITON_MODEL", metavar="NAME", help=model_help),
        click.option("--file", "-f", "file_",
                     type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=str),
                     help=f"Read {items} from PATH (one per line; JSON Lines with --field or a .jsonl name); "
                          "- is stdin."),
        click.option("--field", metavar="NAME", help="Read JSON Lines and take this field of each record."),
    )

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


class _Command(click.Command):
    """Shows a :class:`~tritonize.errors.TritonizeError` as one line on stderr with its exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TritonizeError as error:
            settings = ctx.find_object(Settings)
            raise report(error, settings is not None and settings.debug, ctx) from error
        except ModuleNotFoundError as error:
            found = missing_extra(error)
            if found is None:
                raise
            raise click_error(found, ctx) from None


class _Group(click.Group):
    command_class = _Command


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="TRITON_URL", metavar="URL",
              help="Triton server, e.g. localhost:8000, http://host:8000, grpc://host:8001 "
                   "[env TRITON_URL; default localhost:8000 for http, localhost:8001 for grpc].")
@click.option("--protocol", type=click.Choice(PROTOCOLS), envvar="TRITON_PROTOCOL",
              help="Protocol [env TRITON_PROTOCOL; default: the URL's scheme, else http].")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT_S,
              show_default=True, envvar="TRITON_TIMEOUT", help="Seconds to wait for a connection and each answer.")
@click.option("--retries", type=click.IntRange(min=0), default=DEFAULT_RETRIES, show_default=True,
              envvar="TRITON_RETRIES",
              help="Retries with backoff, only for connection errors and 503/UNAVAILABLE answers.")
@click.option("--api-key", envvar=API_KEY_ENV, metavar="KEY",
              help=f"Key of the server's administrative APIs, sent as the {API_KEY_HEADER} header "
                   f"[env {API_KEY_ENV}; needed by `models` on a server started with one].")
@click.option("--verbose", "-v", is_flag=True, help="Show request details (texts, batches, timing) on stderr.")
@debug_option("Show stack traces.")
@click.pass_context
def cli(ctx: click.Context, url: str | None, protocol: str | None, timeout: float, retries: int,
        api_key: str | None, verbose: bool, debug: bool) -> None:
    """Query a Triton Inference Server that serves tritonize models."""
    ctx.obj = Settings(url=url, protocol=protocol, timeout=timeout, retries=retries, verbose=verbose, debug=debug,
                       api_key=api_key)


@cli.command()
@click.option("--model", "-m", metavar="NAME", help="Also require this model to be ready.")
@click.option("--wait", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Poll until ready or this many seconds have passed.")
@click.option("--json", "json_", is_flag=True, help="Print a JSON record.")
@click.pass_context
def health(ctx: click.Context, model: str | None, wait: float | None, json_: bool) -> None:
    """Is the server live and ready (or, with --model, that model)? Exit 0 when ready, 1 otherwise."""
    client = ctx.find_object(Settings).client()
    state = client.wait_until_ready(wait, model) if wait is not None else client.health(model)
    waited = f" (waited {wait:g} s)" if wait is not None and not state.ok else ""
    if json_:
        click.echo(output.json_document(state.to_record()))
    elif state.error:
        raise click.ClickException(state.error + waited)
    else:
        click.echo(output.health_line(state) + waited)
    ctx.exit(0 if state.ok else 1)


@cli.command()
@click.option("--json", "json_", is_flag=True, help="Print JSON.")
@click.pass_obj
def models(settings: Settings, json_: bool) -> None:
    """The repository index: each model's version, state and why it failed to load."""
    entries = settings.client().models()
    if json_:
        click.echo(output.json_document([asdict(entry) for entry in entries]))
    else:
        click.echo(output.models_table(entries))


@cli.command()
@click.argument("name")
@click.option("--json", "json_", is_flag=True, help="Print the server's answer as JSON.")
@click.pass_obj
def metadata(settings: Settings, name: str, json_: bool) -> None:
    """What the server says about model NAME: platform, versions, input and output tensors."""
    answer = settings.client().model_metadata(name)
    click.echo(output.json_document(answer) if json_ else output.metadata_text(answer))


@cli.command()
@click.argument("name")
@click.option("--json", "json_", is_flag=True,
              help="Print the config as the protocol carries it (HTTP: Triton's JSON; gRPC: the protobuf as JSON).")
@click.pass_obj
def config(settings: Settings, name: str, json_: bool) -> None:
    """Model NAME's config as served: batching, instance groups, tensors, ensemble steps, parameters."""
    client = settings.client()
    if json_:
        click.echo(output.json_document(client.model_config_json(name)))
    else:
        click.echo(output.config_text(client.model_config(name)))


@cli.command()
@click.argument("texts", nargs=-1)
@_input_options("Model to call [env TRITON_MODEL; default: the server's only text ensemble].")
@click.option("--batch-size", "-b", type=click.IntRange(min=1),
              help=f"Texts per request [default: {DEFAULT_REQUEST_TEXTS}; maximum: the model's max_batch_size].")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=IN_FLIGHT, show_default=True,
              help="Requests in flight.")
@click.option("--top-k", "-k", type=click.IntRange(min=1), help="Classes per text (per token for token models).")
@click.option("--tokenizer", type=click.Path(exists=True, path_type=Path),
              help="Tokenize on the client for models taking token tensors: a tokenizer.json or NAME_tokenizer folder.")
@click.option("--sort/--no-sort", default=True, show_default=True,
              help="Batch texts of similar token counts together (less padding); output order is unchanged.")
@click.option("--image", "images", is_flag=True,
              help="TEXTS are images: files, directories (their image files) or - for stdin, sent as encoded bytes "
                   "to an image ensemble.")
@click.option("--labels", metavar="A,B,…",
              help="With --image and a CLIP-style image ensemble: zero-shot classification over these labels.")
@click.option("--template", metavar="TEXT", help="Zero-shot hypothesis template with {} for the label "
                                                  "[default: the export's, 'This is a photo of {}.'].")
@click.option("--json", "json_", is_flag=True, help="Print one JSON array of records.")
@click.option("--jsonl", is_flag=True, help="Stream one JSON record per text, with full vectors.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
def predict(settings: Settings, texts: tuple[str, ...], model: str | None, file_: str | None, field: str | None,
            batch_size: int | None, concurrency: int, top_k: int | None, tokenizer: Path | None, sort: bool,
            images: bool, labels: str | None, template: str | None, json_: bool, jsonl: bool, quiet: bool) -> None:
    """Send TEXTS (or --file, or - for stdin) to a text model; print results in input order.

    The default table shows each text's top label and score, or an embedding's size and first values.
    Blank texts (empty lines, records with a blank field) are skipped with a warning; every result keeps its
    input position (JSON ``index``: line number - 1; the table's ``#``: the line number).

    With --image, TEXTS are image files, directories or - (stdin); an image the server cannot read is reported
    in its row (its reason from Triton), every other image still gets its answer, and the exit status is 1.
    """
    if json_ and jsonl:
        raise click.UsageError("Choose one of --json and --jsonl")
    if (labels is not None or template is not None) and not images:
        raise click.UsageError("--labels and --template apply to --image (zero-shot image classification)")
    if images:
        if file_ is not None or field is not None or tokenizer is not None:
            raise click.UsageError("--image takes image paths as arguments (not --file, --field or --tokenizer)")
        candidates = [label.strip() for label in labels.split(",")] if labels is not None else None
        _predict_images(settings, texts, model, batch_size, top_k, json_, jsonl, candidates, template)
        return
    given, streamed = _read_texts(texts, file_, field)
    inputs = list(given.texts)
    client = settings.client()
    plan = client.plan(model, batch_size=batch_size, top_k=top_k, tokenizer=tokenizer)
    if settings.verbose:
        click.echo(f"{len(inputs)} texts → {plan.model} at {client.url}, batches of {plan.batch_size}, "
                   f"{concurrency} in flight", err=True)
    started = time.perf_counter()
    show = streamed and not quiet and _is_terminal() and len(inputs) > shutil.get_terminal_size().lines
    predictions = _with_progress(client, plan, inputs, given.positions, concurrency, SORT_WINDOW if sort else 0,
                                 show)
    if jsonl:
        for prediction in predictions:
            click.echo(output.json_line(prediction))
    elif json_:
        click.echo(output.json_document([p.to_record(arrays=True) for p in predictions]))
    else:
        for number, prediction in enumerate(predictions):
            if number == 0:
                click.echo(output.prediction_header())
            click.echo(output.prediction_row(prediction, top_k or 1))
    if settings.verbose:
        elapsed = time.perf_counter() - started
        click.echo(f"{len(inputs)} texts in {elapsed:.2f} s ({len(inputs) / elapsed:.1f} texts/s)", err=True)


@cli.command("sparse")
@click.argument("texts", nargs=-1)
@_input_options("Sparse-embedding model [env TRITON_MODEL; default: the server's only text ensemble].")
@click.option("--top-k", "-k", type=click.IntRange(min=1), default=8, show_default=True,
              help="Terms shown per text in the table (--json prints all).")
@click.option("--json", "json_", is_flag=True, help="Print one JSON array of records with every non-zero term.")
@click.pass_obj
def sparse_command(settings: Settings, texts: tuple[str, ...], model: str | None, file_: str | None,
                   field: str | None, top_k: int, json_: bool) -> None:
    """Sparse (SPLADE) embeddings of TEXTS (or --file): each text's vocabulary terms with their weights."""
    given, _ = _read_texts(texts, file_, field)
    embeddings = settings.client().encode_sparse(list(given.texts), model, positions=given.positions)
    if json_:
        click.echo(output.json_document([embedding.to_record() for embedding in embeddings]))
        return
    click.echo(output.prediction_header())
    for embedding in embeddings:
        shown = ", ".join(f"{term.token} {term.weight:.3f}" for term in embedding.terms[:top_k])
        more = ", …" if len(embedding.terms) > top_k else ""
        click.echo(f"{embedding.index + 1:>6}  {output.shorten(embedding.text):<{output.TEXT_WIDTH}}  "
                   f"{len(embedding.terms)} terms: {shown}{more}")


@cli.command("rerank")
@click.argument("query")
@click.argument("documents", nargs=-1)
@_input_options("Reranking model [env TRITON_MODEL; default: the server's only reranking ensemble].", "documents")
@click.option("--top-k", "-k", type=click.IntRange(min=1), help="Print only the best K documents.")
@click.option("--label", metavar="NAME", help="Pair classifiers with several labels: the label whose score ranks.")
@click.option("--batch-size", "-b", type=click.IntRange(min=1),
              help="Pairs per request [default and maximum: the model's max_batch_size].")
@click.option("--json", "json_", is_flag=True, help="Print one JSON array of records, best first.")
@click.pass_obj
def rerank_command(settings: Settings, query: str, documents: tuple[str, ...], model: str | None, file_: str | None,
                   field: str | None, top_k: int | None, label: str | None, batch_size: int | None,
                   json_: bool) -> None:
    """Score DOCUMENTS (or --file) against QUERY with a cross-encoder; print them best first."""
    if not documents and file_ is None:
        raise click.UsageError("No documents given: pass DOCUMENT arguments, --file PATH, or - to read stdin")
    given, _ = _read_texts(documents, file_, field)
    ranked = settings.client().rerank(query, list(given.texts), model, top_k=top_k, label=label,
                                      batch_size=batch_size)
    ranked = [replace(item, index=given.positions[item.index]) for item in ranked]
    if json_:
        click.echo(output.json_document([item.to_record() for item in ranked]))
    else:
        click.echo(output.ranking_table(ranked))


def _predict_images(settings: Settings, paths: tuple[str, ...], model: str | None, batch_size: int | None,
                    top_k: int | None, json_: bool, jsonl: bool, labels: list[str] | None = None,
                    template: str | None = None) -> None:
    """``predict --image``: one row (or record) per image; refused images in their rows, then exit status 1."""
    client = settings.client()
    given = read_images(paths, click.get_binary_stream("stdin"))
    started = time.perf_counter()
    if labels is not None:
        predictions = client.zero_shot(given, labels, model, template=template, batch_size=batch_size)
        if top_k:
            predictions = [replace(p, labels=p.labels[:top_k]) for p in predictions]
    else:
        predictions = client.predict_images(given, model, top_k=top_k, batch_size=batch_size)
    if jsonl:
        for prediction in predictions:
            click.echo(output.json_line(prediction))
    elif json_:
        click.echo(output.json_document([p.to_record(arrays=True) for p in predictions]))
    else:
        click.echo(output.prediction_header().replace("TEXT", "IMAGE", 1))
        for prediction in predictions:
            click.echo(output.prediction_row(prediction, top_k or 1))
    if settings.verbose:
        elapsed = time.perf_counter() - started
        click.echo(f"{len(given)} images in {elapsed:.2f} s ({len(given) / elapsed:.1f} images/s)", err=True)
    failed = [p for p in predictions if p.error is not None]
    if failed:
        raise InputError(f"{len(failed)} of {len(predictions)} images could not be read by the server "
                         f"({', '.join(p.text for p in failed[:5])}{', …' if len(failed) > 5 else ''})")


def skipped_message(blank: tuple[int, ...], source: str) -> str:
    """``skipped 2 blank texts (lines 4, 9 of texts.txt)``: 1-based numbers, at most ten of them."""
    plural = "s" if len(blank) > 1 else ""
    numbers = ", ".join(str(position + 1) for position in blank[:10]) + (", …" if len(blank) > 10 else "")
    where = f"argument{plural} {numbers}" if source == "arguments" else f"line{plural} {numbers} of {source}"
    return f"skipped {len(blank)} blank text{plural} ({where}); results keep their input positions"


def _read_texts(arguments: tuple[str, ...], file_: str | None, field: str | None) -> tuple[InputTexts, bool]:
    """The texts and whether they came from a file or stdin; blank ones skipped with a warning on stderr."""
    given, streamed, source = _texts_and_source(arguments, file_, field)
    if given.blank:
        click.echo(f"Warning: {skipped_message(given.blank, source)}", err=True)
    return given, streamed


def _texts_and_source(arguments: tuple[str, ...], file_: str | None,
                      field: str | None) -> tuple[InputTexts, bool, str]:
    """The texts, whether they came from a file or stdin, and where from (``arguments``, ``stdin``, a path)."""
    if arguments == (STDIN,) and file_ is None:
        file_ = STDIN
        arguments = ()
    if arguments and file_ is not None:
        raise click.UsageError("Give texts as arguments or with --file, not both")
    if file_ is None:
        if field is not None:
            raise click.UsageError("--field applies to --file or stdin input")
        if not arguments:
            raise click.UsageError("No texts given: pass TEXT arguments, --file PATH, or - to read stdin")
        given = InputTexts.of(arguments)
        if not given.texts:
            raise InputError("Only blank texts given")
        return given, False, "arguments"
    if file_ == STDIN:
        given = parse_input(click.get_binary_stream("stdin").read(), "stdin", field)
        source = "stdin"
    else:
        given = read_input(Path(file_), field)
        source = file_
    if not given.texts:
        raise InputError(f"No texts in {source}")
    return given, True, source


def _with_progress(client: TextClient, plan: RequestPlan, inputs: list[str], positions: tuple[int, ...],
                   concurrency: int, sort_window: int, show: bool) -> Iterator[Prediction]:
    """Predictions in order; with ``show``, a progress bar on stderr and output held until it completes."""
    if not show:
        yield from client.stream(plan, inputs, concurrency, sort_window=sort_window, positions=positions)
        return
    with click.progressbar(length=len(inputs), label="Predicting", file=sys.stderr, show_pos=True,
                           show_eta=True) as bar:
        held = list(client.stream(plan, inputs, concurrency, on_batch=bar.update, sort_window=sort_window,
                                  positions=positions))
    yield from held


def _is_terminal() -> bool:
    """Stderr is a terminal: the bar goes there, so it shows even when results are redirected to a file."""
    return sys.stderr.isatty()


def main() -> None:
    """Console entry point."""
    cli(prog_name="client")


@cli.command()
@click.argument("models", nargs=-1)
@click.option("--model", "-m", "model", envvar="TRITON_MODEL", metavar="NAME",
              help="Model to measure [env TRITON_MODEL; default: the server's only text ensemble].")
@click.option("--compare", "compare", multiple=True, metavar="NAME",
              help="Also measure this model and plot it alongside; repeat for several.")
@click.option("--file", "-f", "texts_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Texts to send, one per line (JSON Lines for a .jsonl name), as predict reads them "
                   "[default: 512 English sentences from Python's docstrings].")
@click.option("--tokenizer", type=click.Path(exists=True, path_type=Path),
              help="For tensor models: NAME_tokenizer folder or tokenizer.json to make their inputs.")
@click.option("--images", "image_paths", multiple=True, type=click.Path(path_type=Path),
              help="For image ensembles: image files or directories to send (repeat for several).")
@click.option("--concurrency", "-c", multiple=True, metavar="N",
              help="Requests in flight, as for predict; one measurement per value: repeat or comma-separate "
                   f"(-c 1 -c 4, or 1,4) [default: {','.join(map(str, DEFAULT_CONCURRENCY))}].")
@click.option("--request-rate", multiple=True, metavar="R",
              help="Requests per second instead of concurrency; repeat or comma-separate (50,100,200).")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=1, show_default=True,
              help="Texts per request.")
@click.option("--measurement-interval", type=click.IntRange(min=100), default=3000, show_default=True,
              help="Milliseconds per measurement window.")
@click.option("--stability-percentage", type=click.IntRange(min=1), default=10, show_default=True,
              help="Windows must agree within this percentage.")
@click.option("--max-trials", type=click.IntRange(min=1), default=10, show_default=True,
              help="Windows tried before giving up on stability.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-results"),
              show_default=True, help="Results go to OUTPUT_DIR/<model>-<timestamp>/.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the result folder.")
@click.pass_obj
def bench(settings: Settings, models: tuple[str, ...], model: str | None, compare: tuple[str, ...],
          texts_file: Path | None, tokenizer: Path | None, image_paths: tuple[Path, ...], concurrency: tuple[str, ...],
          request_rate: tuple[str, ...],
          batch_size: int, measurement_interval: int, stability_percentage: int, max_trials: int, output_dir: Path,
          quiet: bool) -> None:
    """Measure MODELS with NVIDIA's perf_analyzer on real text (or --images): CSV, JSON, markdown table, PNG plots."""
    from client.bench import parse_levels, run_bench
    from client.connection import Endpoint

    client = settings.client()
    names = list(dict.fromkeys([*models, *([model] if model else []), *compare])) or [client.resolve_model(None)]
    levels = parse_levels(",".join(concurrency) or None, ",".join(request_rate) or None)
    endpoint = Endpoint.parse(settings.url, settings.protocol, settings.timeout)
    perf = PerfSettings(url=endpoint.address, protocol=endpoint.protocol, measurement_interval_ms=measurement_interval,
                        stability_percentage=stability_percentage, max_trials=max_trials, batch_size=batch_size)
    texts = read_file(texts_file, None) if texts_file else None

    def progress(name: str, level: LoadLevel, result: LevelResult) -> None:
        if not quiet:
            click.echo(f"{name} {level.label}: {result.throughput:.1f} infer/s, p50 {result.p50_ms:.1f} ms, "
                       f"p99 {result.p99_ms:.1f} ms", err=True)

    failures: list[PerfAnalyzerError] = []

    def failed(name: str, level: LoadLevel, error: PerfAnalyzerError) -> None:
        failures.append(error)
        click.echo(f"{error} — going on with the next level", err=True)

    if not quiet:
        click.echo(f"Measuring {', '.join(names)} at {', '.join(level.label for level in levels)} "
                   f"over {endpoint.protocol} with perf_analyzer …", err=True)
    images = [image.data for image in read_images(image_paths)] if image_paths else None
    result = run_bench(client, names, levels, perf, texts, tokenizer, output_dir, on_level=progress,
                       on_failure=failed, images=images)
    if not quiet:
        click.echo(bench_report.markdown_table(result.results))
    click.echo(str(result.folder))
    if failures:
        raise PerfAnalyzerError(f"{len(failures)} of {len(names) * len(levels)} levels failed (the others are in "
                                f"{result.folder}); first: {failures[0]}")
