"""Command line of ``python -m export``: options → ExportSettings → pipeline → summary."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from export.errors import VerificationError
from export.gates import GateOverrides
from export.python_models.entities_model import STRATEGIES
from export.settings import (
    DEFAULT_BATCHING,
    DEFAULT_IMAGE_BATCHING,
    DEFAULT_IMAGE_INSTANCE_COUNT,
    DEFAULT_IMAGE_PREPROCESS_INSTANCE_COUNT,
    DEFAULT_IMAGE_THREADS_PER_INSTANCE,
    DEFAULT_INSTANCE_COUNT,
    DEFAULT_OPSET,
    DEFAULT_THREADS_PER_INSTANCE,
    DEFAULT_TOKENIZER_INSTANCE_COUNT,
    DEFAULT_TRITON_RELEASE,
    FORMATS,
    ONE_STEP_PAD_TO_MULTIPLE_OF,
    SERVING_PATHS,
    Acceleration,
    BatchingSettings,
    ExportSettings,
    QueuePolicy,
)
from export.signature import Task
from tritonize.cli_errors import debug_option, report, requires_extras
from tritonize.errors import TritonizeError
from tritonize.releases import release, supported

_DEFAULTS = ExportSettings()
_GPU, _CPU = DEFAULT_BATCHING["gpu"], DEFAULT_BATCHING["cpu"]
_IMAGE_CPU = DEFAULT_IMAGE_BATCHING["cpu"]
_ACCELERATION = Acceleration()


def _preferred(batching: BatchingSettings) -> str:
    return " ".join(map(str, batching.preferred_batch_sizes)) or "none"


def _check_release(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an unknown or unconfirmed release with the reason and the supported list."""
    try:
        return release(value).tag
    except TritonizeError as error:
        raise click.BadParameter(str(error)) from None


def kind_batching(instance_kind: str, **given: object) -> BatchingSettings:
    """The batching defaults of ``instance_kind`` with the options the user gave (``None``: not given)."""
    return replace(DEFAULT_BATCHING[instance_kind], **{k: v for k, v in given.items() if v is not None})


def given_batching(instance_kind: str, **options: object) -> tuple[BatchingSettings | None, frozenset[str]]:
    """Batching from the options the user gave (``None`` or empty: not given), and the fields left to defaults.

    ``(None, {})`` when no option was given: the export then takes the defaults of the model's kind (text or
    image, :func:`export.settings.image_serving`); otherwise the fields not given are named as defaulted.
    """
    given = {k: v for k, v in options.items() if v is not None and v != ()}
    if not given:
        return None, frozenset()
    return kind_batching(instance_kind, **given), frozenset(k for k in options if k not in given)


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
@click.option("--max-batch-size", type=click.IntRange(min=0), show_default=False, envvar="TRITONIZE_MAX_BATCH_SIZE",
              help="Largest batch a model instance runs (0: no batching) "
                   f"[default: {_GPU.max_batch_size}; image models: {_IMAGE_CPU.max_batch_size} cpu].")
@click.option("--max-queue-delay-us", type=click.IntRange(min=0), show_default=False,
              help="How long the dynamic batcher waits to fill a batch, in microseconds "
                   f"[default: {_GPU.max_queue_delay_us} gpu, {_CPU.max_queue_delay_us} cpu; image models: "
                   f"{_IMAGE_CPU.max_queue_delay_us} cpu].")
@click.option("--preferred-batch-size", "preferred", type=click.IntRange(min=1), multiple=True,
              help="Batch size the dynamic batcher aims for; repeat for several [default: let Triton choose; image "
                   f"models: {_preferred(_IMAGE_CPU)} cpu].")
@click.option("--pad-to-multiple-of", type=click.IntRange(min=1), show_default=False,
              help="Pad each request's tokens to a multiple of this, so requests of similar length batch "
                   "together (1 = no buckets: least padding, least batching) "
                   f"[default: {_GPU.pad_to_multiple_of} gpu, {_CPU.pad_to_multiple_of} cpu, "
                   f"{ONE_STEP_PAD_TO_MULTIPLE_OF} for a one-step model].")
@click.option("--max-queue-size", type=click.IntRange(min=0), default=_DEFAULTS.queue.max_queue_size,
              help="Requests that may wait for each model; more are refused at once with 503/UNAVAILABLE "
                   "(0: no limit).")
@click.option("--queue-timeout-ms", type=click.IntRange(min=0), default=_DEFAULTS.queue.timeout_ms,
              help="A request that waited this long in a model's queue is refused with 503/UNAVAILABLE "
                   "(0: no limit; a request may set its own).")
@click.option("--instance-kind", type=click.Choice(["gpu", "cpu"]), default=_DEFAULTS.instance_kind,
              envvar="TRITONIZE_INSTANCE_KIND", help="Where Triton runs the model instances.")
@click.option("--instance-count", type=click.IntRange(min=1), show_default=False,
              help=f"Model instances per device [default: {DEFAULT_INSTANCE_COUNT['gpu']} gpu, "
                   f"{DEFAULT_INSTANCE_COUNT['cpu']} cpu; image models: {DEFAULT_IMAGE_INSTANCE_COUNT['cpu']} cpu].")
@click.option("--threads-per-instance", type=click.IntRange(min=0), show_default=False,
              help="Intra-op threads of each instance (ONNX Runtime / libtorch); 0 leaves the backend's default, "
                   f"all cores per instance [default: {DEFAULT_THREADS_PER_INSTANCE['cpu']} cpu, the backend's gpu; "
                   f"image models: {DEFAULT_IMAGE_THREADS_PER_INSTANCE['cpu']} cpu].")
@click.option("--tokenizer-instance-count", type=click.IntRange(min=1), show_default=False,
              help="Instances of the Python-backend tokenizer model, or of an image model's preprocessing step "
                   f"[default: {DEFAULT_TOKENIZER_INSTANCE_COUNT['cpu']}; image models: "
                   f"{DEFAULT_IMAGE_PREPROCESS_INSTANCE_COUNT['cpu']} cpu].")
@click.option("--tokenizer-queue-delay-us", type=click.IntRange(min=0), default=_DEFAULTS.tokenizer_queue_delay_us,
              help="Dynamic batcher delay of the tokenizer model, in microseconds.")
@click.option("--version", "version", type=click.IntRange(min=1), help="Version to write [default: next free].")
@click.option("--force", is_flag=True,
              help="Replace an existing version: --version N, or without it the newest (the one served).")
@click.option("--optimize", is_flag=True,
              help="ONNX Runtime transformer fusions (attention, layer norm, GELU) for the --instance-kind.")
@click.option("--fp16", is_flag=True, help="Half precision for GPU instances (inputs stay INT64, outputs FP32).")
@click.option("--quantize", type=click.Choice(["int8"]), help="Dynamic INT8 quantization for CPU instances.")
@click.option("--tensorrt", is_flag=True, help="Serve the ONNX model through ONNX Runtime's TensorRT accelerator.")
@click.option("--tensorrt-precision", type=click.Choice(["FP16", "FP32"]), default=_ACCELERATION.tensorrt_precision,
              help="TensorRT precision.")
@click.option("--tensorrt-workspace-mb", type=click.IntRange(min=64), default=_ACCELERATION.tensorrt_workspace_mb,
              help="TensorRT builder workspace in MiB.")
@click.option("--tensorrt-cache-path",
              help="TensorRT engine cache as the server sees it (e.g. a mounted volume) "
                   "[default: /models/NAME_onnx/trt_engine_cache].")
@click.option("--atol", type=click.FloatRange(min=0),
              help="Largest absolute difference allowed against PyTorch [default: 1e-4 for fp32; unchecked for "
                   "optimised variants].")
@click.option("--min-cosine", type=click.FloatRange(-1, 1),
              help="Smallest per-text embedding cosine vs PyTorch [default: 0.9999 fp32/fused, 0.999 fp16, 0.97 int8].")
@click.option("--mean-cosine", type=click.FloatRange(-1, 1),
              help="Smallest mean embedding cosine [default: 0.99 for int8].")
@click.option("--min-agreement", type=click.FloatRange(0, 1),
              help="Smallest share of texts/tokens whose top class matches PyTorch [default: 0.99 for optimised "
                   "variants].")
@click.option("--opset", type=click.IntRange(min=11), default=DEFAULT_OPSET, help="ONNX opset.")
@click.option("--triton-release", default=DEFAULT_TRITON_RELEASE, callback=_check_release, metavar="YY.MM",
              help=f"NGC release of the target Triton container: {supported()[0]}–{supported()[-1]} "
                   "(docs/releases.md); "
                   "an older one prints the known vulnerabilities it has.")
@click.option("--skip-release-check", is_flag=True,
              help="Do not verify the ONNX model in the exact ONNX Runtime of --triton-release.")
@click.option("--skip-torchscript-release-check", is_flag=True,
              help="Do not load and verify the TorchScript model in the PyTorch of --triton-release (a one-time "
                   "download of 3–5 GB into the cache, unless this environment's torch is that release).")
@click.option("--skip-load-check", is_flag=True, envvar="TRITONIZE_SKIP_LOAD_CHECK", show_envvar=True,
              help="Do not load the staged models in the local Triton (python -m server's) and send the "
                   "verification texts through the ensemble before writing them (for machines without it).")
@click.option("--truncate-dim", type=click.IntRange(min=1),
              help="Cut sentence embeddings to this many dimensions (Matryoshka models), renormalised when the "
                   "model normalises [default: the folder's truncate_dim, else the full width].")
@click.option("--aggregation-strategy", type=click.Choice(STRATEGIES), default=_DEFAULTS.aggregation_strategy,
              help="Token classification: how token classes become entities, as transformers' pipeline groups them.")
@click.option("--sparse-top-k", type=click.IntRange(min=1), default=_DEFAULTS.sparse_top_k,
              help="Sparse embeddings: (index, weight) pairs served per text, highest weights first.")
@click.option("--serving", type=click.Choice(SERVING_PATHS), show_default=False,
              help="one-step: one Python-backend model NAME tokenizes and runs ONNX Runtime (one hop per request); "
                   "ensemble: NAME calls NAME_tokenizer, then NAME_onnx / NAME_torchscript [default: one-step for "
                   "--instance-kind cpu ONNX exports of embeddings, classifiers and rerankers, ensemble otherwise].")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors.")
@debug_option()
@requires_extras
def main(model: str | None, repository: Path, name: str | None, task: str | None, formats: tuple[str, ...],
         ensemble_format: str | None, revision: str | None, trust_remote_code: bool, max_batch_size: int | None,
         max_queue_delay_us: int | None, preferred: tuple[int, ...], pad_to_multiple_of: int | None,
         max_queue_size: int, queue_timeout_ms: int, instance_kind: str,
         instance_count: int | None, threads_per_instance: int | None, tokenizer_instance_count: int | None,
         tokenizer_queue_delay_us: int, version: int | None, force: bool,
         optimize: bool, fp16: bool, quantize: str | None,
         tensorrt: bool, tensorrt_precision: str, tensorrt_workspace_mb: int, tensorrt_cache_path: str | None,
         atol: float | None, min_cosine: float | None, mean_cosine: float | None, min_agreement: float | None,
         opset: int, triton_release: str, skip_release_check: bool,
         skip_torchscript_release_check: bool, skip_load_check: bool, truncate_dim: int | None,
         aggregation_strategy: str,
         sparse_top_k: int, serving: str | None, quiet: bool, debug: bool) -> None:
    """Export a Hugging Face MODEL (hub id or local folder) into a verified Triton model repository.

    With no MODEL, exports the bundled sentence-transformers/all-MiniLM-L6-v2. Writes an ensemble NAME
    (text in), a tokenizer model NAME_tokenizer and one model per format (NAME_onnx, NAME_torchscript),
    after checking every artifact against PyTorch; CPU ONNX exports of embeddings, classifiers and rerankers
    write one model NAME that tokenizes and runs ONNX Runtime instead (--serving).
    Exit codes: 0 written, 1 export failed, 2 usage error.
    """
    from export.pipeline import run_export
    from export.progress import Progress
    from export.summary import summary, verification_table

    batching, defaulted = given_batching(instance_kind, max_batch_size=max_batch_size,
                                         max_queue_delay_us=max_queue_delay_us, preferred_batch_sizes=tuple(preferred),
                                         pad_to_multiple_of=pad_to_multiple_of)
    settings = ExportSettings(
        model=model, repository=repository, name=name, task=Task(task) if task else None,
        formats=tuple(dict.fromkeys(formats)), ensemble_format=ensemble_format, revision=revision,
        trust_remote_code=trust_remote_code, batching=batching, defaulted=defaulted,
        queue=QueuePolicy(max_queue_size, queue_timeout_ms),
        instance_kind=instance_kind, instance_count=instance_count, threads_per_instance=threads_per_instance,
        tokenizer_instance_count=tokenizer_instance_count, tokenizer_queue_delay_us=tokenizer_queue_delay_us,
        version=version, force=force,
        acceleration=Acceleration(optimize, fp16, quantize, tensorrt, tensorrt_precision, tensorrt_workspace_mb,
                                  tensorrt_cache_path),
        gates=GateOverrides(atol, min_cosine, mean_cosine, min_agreement),
        opset=opset, triton_release=triton_release, release_check=not skip_release_check,
        torchscript_release_check=not skip_torchscript_release_check, truncate_dim=truncate_dim,
        aggregation_strategy=aggregation_strategy, sparse_top_k=sparse_top_k, load_check=not skip_load_check,
        serving=serving,  # type: ignore[arg-type]  # one of SERVING_PATHS (click.Choice)
    )
    try:
        result = run_export(settings, Progress(stream=None if quiet else sys.stderr))
    except TritonizeError as error:
        if isinstance(error, VerificationError) and error.report is not None:
            click.echo(verification_table(error.report), err=True)
        raise report(error, debug) from None
    if not quiet:
        click.echo(summary(result, settings))
