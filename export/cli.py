"""Command line of ``python -m export``: options → ExportSettings → pipeline → summary."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from export.errors import ExportError, VerificationError
from export.settings import DEFAULT_OPSET, DEFAULT_TRITON_RELEASE, FORMATS, BatchingSettings, ExportSettings
from export.signature import Task

_DEFAULTS = ExportSettings()
_BATCHING = BatchingSettings()


class ExportFailed(click.ClickException):
    """An export error shown as one line, with the error's own exit code."""

    def __init__(self, error: ExportError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("model", required=False)
@click.option("--repository", type=click.Path(file_okay=False, path_type=Path), default=_DEFAULTS.repository,
              envvar="TRITONIZE_REPOSITORY", show_envvar=True, help="Triton model repository to write into.")
@click.option("--name", help="Base name of the models [default: derived from the model id].")
@click.option("--task", type=click.Choice(Task.names()), help="Override the task detected from the model folder.")
@click.option("--format", "formats", type=click.Choice(FORMATS), multiple=True, default=_DEFAULTS.formats,
              help="Artifact to export; repeat for both.")
@click.option("--ensemble-format", type=click.Choice(FORMATS),
              help="Artifact the ensemble calls [default: the first --format].")
@click.option("--revision", help="Hub revision (branch, tag or commit).")
@click.option("--trust-remote-code", is_flag=True, help="Allow custom model code from the hub.")
@click.option("--max-batch-size", type=click.IntRange(min=0), default=_BATCHING.max_batch_size,
              envvar="TRITONIZE_MAX_BATCH_SIZE", help="Largest batch a model instance runs (0: no batching).")
@click.option("--max-queue-delay-us", type=click.IntRange(min=0), default=_BATCHING.max_queue_delay_us,
              help="How long the dynamic batcher waits to fill a batch, in microseconds.")
@click.option("--preferred-batch-size", "preferred", type=click.IntRange(min=1), multiple=True,
              help="Batch size the dynamic batcher aims for; repeat for several [default: let Triton choose].")
@click.option("--pad-to-multiple-of", type=click.IntRange(min=1), default=_BATCHING.pad_to_multiple_of,
              help="Pad each request's tokens to a multiple of this, so requests of similar length batch "
                   "together (1 = no buckets: least padding, least batching).")
@click.option("--instance-kind", type=click.Choice(["gpu", "cpu"]), default=_DEFAULTS.instance_kind,
              envvar="TRITONIZE_INSTANCE_KIND", help="Where Triton runs the model instances.")
@click.option("--instance-count", type=click.IntRange(min=1), default=_DEFAULTS.instance_count,
              help="Model instances per device.")
@click.option("--version", "version", type=click.IntRange(min=1), help="Version to write [default: next free].")
@click.option("--force", is_flag=True, help="Replace an existing --version.")
@click.option("--atol", type=click.FloatRange(min=0), default=_DEFAULTS.atol,
              help="Largest absolute difference allowed against PyTorch.")
@click.option("--min-cosine", type=click.FloatRange(-1, 1), default=_DEFAULTS.min_cosine,
              help="Smallest cosine similarity allowed for embeddings.")
@click.option("--opset", type=click.IntRange(min=11), default=DEFAULT_OPSET, help="ONNX opset.")
@click.option("--triton-release", default=DEFAULT_TRITON_RELEASE, help="NGC release of the target Triton container.")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors.")
@click.option("--debug", is_flag=True, help="Show stack traces.")
def main(model: str | None, repository: Path, name: str | None, task: str | None, formats: tuple[str, ...],
         ensemble_format: str | None, revision: str | None, trust_remote_code: bool, max_batch_size: int,
         max_queue_delay_us: int, preferred: tuple[int, ...], pad_to_multiple_of: int, instance_kind: str,
         instance_count: int, version: int | None, force: bool, atol: float, min_cosine: float, opset: int,
         triton_release: str, quiet: bool, debug: bool) -> None:
    """Export a Hugging Face MODEL (hub id or local folder) into a verified Triton model repository.

    With no MODEL, exports the bundled sentence-transformers/all-MiniLM-L6-v2. Writes an ensemble NAME
    (text in), a tokenizer model NAME_tokenizer and one model per format (NAME_onnx, NAME_torchscript),
    after checking every artifact against PyTorch. Exit codes: 0 written, 1 export failed, 2 usage error.
    """
    from export.pipeline import run_export
    from export.progress import Progress
    from export.summary import summary, verification_table

    settings = ExportSettings(
        model=model, repository=repository, name=name, task=Task(task) if task else None,
        formats=tuple(dict.fromkeys(formats)), ensemble_format=ensemble_format, revision=revision,
        trust_remote_code=trust_remote_code,
        batching=BatchingSettings(max_batch_size, max_queue_delay_us, tuple(preferred), pad_to_multiple_of),
        instance_kind=instance_kind, instance_count=instance_count, version=version, force=force, atol=atol,
        min_cosine=min_cosine, opset=opset, triton_release=triton_release,
    )
    try:
        result = run_export(settings, Progress(stream=None if quiet else sys.stderr))
    except VerificationError as error:
        if debug:
            raise
        if error.report is not None:
            click.echo(verification_table(error.report, atol, min_cosine), err=True)
        raise ExportFailed(error) from None
    except ExportError as error:
        if debug:
            raise
        raise ExportFailed(error) from None
    if not quiet:
        click.echo(summary(result, settings))
