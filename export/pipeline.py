"""The export pipeline: resolve → load → export → verify → configs → repository."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tokenizers import Tokenizer

from export.errors import ExportFailedError, UnsupportedModelError, UsageError, VerificationError
from export.folder_check import check_files, check_weights
from export.gates import GateOverrides, gate_for, variant_name
from export.load_model import LoadedModel, hidden_size, load_model, read_info
from export.optimize import optimize_onnx
from export.postprocess_heads import build_head, run_head
from export.progress import Progress
from export.python_models import entities_model, sparse_tokens_model, tokenizer_model
from export.reference_outputs import compare_with_reference, reference_outputs
from export.release_check import run_in_release, run_torchscript_in_release
from export.repository import ModelFolder, check_name, choose_version, write_models
from export.settings import ExportSettings, Format
from export.signature import Signature, Task
from export.source import default_name, resolve_source
from export.tasks.reference_checks import reference_checks as task_reference_checks
from export.tasks.rerank import check_pair_tokenizer, pair_verification_inputs
from export.tasks.sparse import dense_view
from export.to_onnx import check_opset, export_onnx
from export.to_torchscript import export_torchscript
from export.tokenizer_check import check_tokenizer
from export.tracing import first_line, traceable_masks
from export.triton_config import (
    ModelNames,
    artifact_config,
    ensemble_config,
    entities_config,
    tokenizer_config,
    vocabulary_config,
)
from export.verify import (
    VERIFICATION_BATCHES,
    VERIFICATION_TEXTS,
    Report,
    compare,
    onnx_runner,
    torchscript_runner,
    verification_inputs,
    verify,
)
from tritonize.repo_format import tokenizer_encoding
from tritonize.repo_format.files import (
    LABELS_FILENAME,
    PYTHON_MODEL_FILENAME,
    TOKENIZER_ENCODING_FILENAME,
    TOKENIZER_FILENAME,
)
from tritonize.repo_format.tokenizer_encoding import TextEncoder, TokenizerParameters


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and measured.

    Attributes:
        model_id: The exported model.
        names: Names of the written models.
        task: The exported task.
        signature: Tensor interface of the artifacts.
        version: Version folder written.
        formats: Artifacts written.
        ensemble_format: Artifact the ensemble calls.
        report: Verification numbers.
        files: Files written into the repository.
        repository: The repository.
        max_length: Token limit of the tokenizer model.
        labels: Class names (classification).
    """

    model_id: str
    names: ModelNames
    task: Task
    signature: Signature
    version: int
    formats: tuple[Format, ...]
    ensemble_format: Format
    report: Report
    files: list[Path]
    repository: Path
    max_length: int
    labels: tuple[str, ...]


def run_export(settings: ExportSettings, progress: Progress | None = None) -> ExportResult:
    """Export, verify and write one model; nothing is written unless every check passes.

    Raises:
        ExportError: Any failure a user can act on (see :mod:`export.errors`).
    """
    progress = progress or Progress(stream=None)
    ensemble_format = _validate(settings)
    with progress.step("Resolving model"):
        source = resolve_source(settings.model, settings.revision)
        check_files(source.folder, source.model_id)
        info = read_info(source, settings.task)
        check_weights(source.folder, source.model_id)
    names = ModelNames(check_name(settings.name or default_name(source.model_id)))
    model_names = [names.ensemble, names.tokenizer, *(names.artifact(fmt) for fmt in settings.formats)]
    if info.task is Task.TOKEN_CLASSIFICATION:
        model_names.append(names.entities)
    if info.task is Task.SPARSE_EMBEDDING:
        model_names.append(names.vocabulary)
    version = choose_version(settings.repository, model_names, settings.version, settings.force)
    with progress.step(f"Loading {source.model_id}"):
        loaded = load_model(info, settings.trust_remote_code, settings.truncate_dim, settings.sparse_top_k)
    _check_prompt_pooling(loaded)
    tokenizer_json = loaded.tokenizer.backend_tokenizer.to_str()
    encoder = _encoder(loaded, tokenizer_json, settings.batching.pad_to_multiple_of)
    check_tokenizer(source.folder, source.model_id, loaded.tokenizer, encoder.tokenizer)
    _check_tokenizer(loaded, encoder)
    signature = loaded.signature
    head = build_head(loaded)
    batches = pair_verification_inputs(encoder) if info.task is Task.TEXT_RANKING else verification_inputs(encoder)
    references = _run_eager(head, batches, signature, info.architecture or info.model_type)
    checked, view = signature, (lambda outputs: outputs)
    if info.task is Task.SPARSE_EMBEDDING:  # Compare dense vectors: equal weights may come in either order.
        checked, view = dense_view(signature, loaded.model.config.vocab_size)
    with progress.step("Verifying PyTorch against the reference library"):
        checks = reference_checks(loaded, encoder, head, batches, references, settings.aggregation_strategy)
    references = [view(outputs) for outputs in references]
    with tempfile.TemporaryDirectory(prefix="tritonize-export-") as tmp:
        artifacts = {fmt: _export_artifact(fmt, head, loaded, batches[2], Path(tmp), settings, progress)
                     for fmt in settings.formats}
        for fmt, path in artifacts.items():
            gate = gate_for(_variant(fmt, settings), info.task, settings.gates)
            with progress.step(f"Verifying {fmt} ({gate.variant}) on {len(batches)} batches"):
                runner = onnx_runner(path, signature) if fmt == "onnx" else torchscript_runner(path, signature)
                checks.extend(verify(fmt, lambda batch, run=runner: view(run(batch)), checked, batches, references,
                                     gate))
            if fmt == "onnx" and settings.release_check:
                # fp16 graphs are built for the CUDA provider; CPU kernels of older runtimes overflow in fp16,
                # so there the release check proves that the graph loads and runs, not its numbers.
                numbers = not settings.acceleration.fp16
                what = "Verifying" if numbers else "Loading (fp16: numbers need a GPU)"
                with progress.step(f"{what} onnx in the ONNX Runtime of Triton {settings.triton_release}"):
                    ort_version, outputs = run_in_release(path, signature.output_names, batches,
                                                          settings.triton_release)
                if numbers:
                    artifact = f"onnx@ort-{ort_version}"
                    checks.extend(compare(artifact, checked, batches, references, [view(o) for o in outputs], gate))
            if fmt == "torchscript" and settings.torchscript_release_check:
                checks.extend(_torchscript_release_checks(path, signature, batches, references, gate, settings,
                                                          progress, checked, view))
        report = Report(tuple(checks))
        if not report.passed:
            raise VerificationError(failure_message(report), report)
        models = _model_folders(names, settings, loaded, ensemble_format, artifacts, tokenizer_json)
        with progress.step(f"Writing version {version} to {settings.repository}"):
            files = write_models(settings.repository, models, version)
    return ExportResult(
        model_id=source.model_id, names=names, task=info.task, signature=signature, version=version,
        formats=settings.formats, ensemble_format=ensemble_format, report=report, files=files,
        repository=settings.repository.resolve(), max_length=loaded.max_length, labels=info.labels,
    )


def _run_eager(head: object, batches: list[dict], signature: Signature, architecture: str) -> list[list]:
    """PyTorch eager outputs of the head on every batch; a model that cannot run says why in one line."""
    try:
        return [run_head(head, batch, signature.input_names) for batch in batches]
    except Exception as error:  # noqa: BLE001 - any model code can fail; the user needs the reason, not a trace
        raise ExportFailedError(f"'{architecture}' does not run in PyTorch: {first_line(error)}. "
                                f"Nothing was written.") from error


def _torchscript_release_checks(path: Path, signature: Signature, batches: list[dict], references: list[list],
                                gate: object, settings: ExportSettings, progress: Progress,
                                checked: Signature | None = None,
                                view: Callable[[list], list] | None = None) -> list:
    """Load (fp16) or verify (fp32) the TorchScript model in the PyTorch of the target release.

    ``checked`` and ``view`` are what gets compared when it is not the outputs themselves (a sparse embedding's
    dense view), as for the other artifacts.
    """
    # fp16 TorchScript is for CUDA instances; CPU half kernels of older PyTorch are incomplete, so fp16 is
    # only loaded there.
    numbers = not settings.acceleration.fp16
    what = "Verifying" if numbers else "Loading (fp16: numbers need a GPU)"
    with progress.step(f"{what} torchscript in the PyTorch of Triton {settings.triton_release}"):
        version, outputs = run_torchscript_in_release(path, signature.input_names, len(signature.outputs),
                                                      batches if numbers else [], settings.triton_release)
    if not numbers:
        return []
    if view is not None:
        outputs = [view(o) for o in outputs]
    return compare(f"torchscript@torch-{version}", checked or signature, batches, references, outputs, gate)


def _variant(fmt: Format, settings: ExportSettings) -> str:
    acceleration = settings.acceleration
    if fmt == "torchscript":
        return variant_name(acceleration.fp16, None, False)
    return variant_name(acceleration.fp16, acceleration.quantize, acceleration.optimize)


def _export_artifact(fmt: Format, head: object, loaded: LoadedModel, example: dict, tmp: Path,
                     settings: ExportSettings, progress: Progress) -> Path:
    """Export one format into its own folder under ``tmp``, accelerated as the settings ask."""
    folder = tmp / fmt
    folder.mkdir()
    signature, acceleration = loaded.signature, settings.acceleration
    with progress.step(f"Exporting {fmt}"), traceable_masks():
        if fmt == "torchscript":
            return export_torchscript(head, signature, example, folder, fp16=acceleration.fp16)
        path = export_onnx(head, signature, example, folder, settings.opset)
    if not (acceleration.optimize or acceleration.fp16 or acceleration.quantize):
        return path
    variant = _variant(fmt, settings)
    accelerated = tmp / f"{fmt}-{variant.replace(' ', '-')}"
    accelerated.mkdir()
    with progress.step(f"Optimising onnx ({variant})"):
        config = loaded.model.config
        heads = getattr(config, "num_attention_heads", None) or getattr(config, "num_heads", 0)
        return optimize_onnx(path, accelerated, acceleration, heads, hidden_size(config),
                             use_gpu=settings.instance_kind == "gpu")


def failure_message(report: Report) -> str:
    """One line naming the first check that missed its gate and by how much."""
    failed = next(c for c in report.checks if not c.passed)
    gate = failed.gate
    parts = [f"max |diff| {failed.max_abs_diff:.3g}" + (f" (atol {gate.atol:g})" if gate.atol is not None else "")]
    if failed.min_cosine is not None:
        parts.append(f"min cosine {failed.min_cosine:.6f} (gate {gate.min_cosine})")
    if failed.mean_cosine is not None and gate.mean_cosine is not None:
        parts.append(f"mean cosine {failed.mean_cosine:.6f} (gate {gate.mean_cosine})")
    if failed.agreement is not None:
        parts.append(f"top-class agreement {failed.agreement:.1%} (gate {gate.min_agreement:.0%})")
    return (f"Verification failed: {failed.artifact} ({gate.variant}) output '{failed.output}' differs from "
            f"{failed.against}: {', '.join(parts)}. Nothing was written.")


def _validate(settings: ExportSettings) -> Format:
    if not settings.formats:
        raise UsageError("Choose at least one --format.")
    ensemble_format = settings.ensemble_format or settings.formats[0]
    if ensemble_format not in settings.formats:
        raise UsageError(f"--ensemble-format {ensemble_format} is not among the exported formats.")
    if settings.batching.max_batch_size < 0 or settings.instance_count < 1 or settings.batching.pad_to_multiple_of < 1:
        raise UsageError("--max-batch-size must be ≥ 0, --instance-count and --pad-to-multiple-of ≥ 1.")
    if "onnx" in settings.formats:
        check_opset(settings.opset, settings.triton_release)
    acceleration = settings.acceleration
    if acceleration.quantize and acceleration.fp16:
        raise UsageError("--quantize int8 and --fp16 exclude each other: INT8 is for CPU, fp16 for GPU instances.")
    if acceleration.quantize and settings.instance_kind != "cpu":
        raise UsageError("--quantize int8 targets CPU instances: add --instance-kind cpu.")
    if acceleration.quantize and "onnx" not in settings.formats:
        raise UsageError("--quantize int8 applies to the ONNX export: add --format onnx.")
    if acceleration.fp16 and settings.instance_kind != "gpu":
        raise UsageError("--fp16 targets GPU instances: use --instance-kind gpu (int8 is the CPU option).")
    if acceleration.tensorrt and (settings.instance_kind != "gpu" or "onnx" not in settings.formats):
        raise UsageError("--tensorrt needs --instance-kind gpu and --format onnx.")
    return ensemble_format


def tokenizer_parameters(loaded: LoadedModel, pad_to_multiple_of: int) -> TokenizerParameters:
    """The tokenizer model's settings: limits, the tokenizer's padding and truncation side, the prompts."""
    tokenizer = loaded.tokenizer
    st_folder = loaded.info.st_folder
    prompts = st_folder.prompts if st_folder is not None and st_folder.prompts.prompts else None
    return TokenizerParameters(
        loaded.max_length, pad_to_multiple_of, loaded.pad_token_id, tokenizer.padding_side, tokenizer.truncation_side,
        dict(prompts.prompts) if prompts else {}, (prompts.default_name or None) if prompts else None,
    )


def named_prompts(loaded: LoadedModel) -> list[str]:
    """Prompts a request can choose that change the input: non-empty ones other than the default."""
    st_folder = loaded.info.st_folder
    if st_folder is None:
        return []
    prompts = st_folder.prompts
    return [name for name, text in sorted(prompts.prompts.items()) if text and name != prompts.default_name]


def _encoder(loaded: LoadedModel, tokenizer_json: str, pad_to_multiple_of: int) -> TextEncoder:
    """The encoder the served tokenizer model will build, from the same tokenizer.json and parameters."""
    return TextEncoder.with_parameters(Tokenizer.from_str(tokenizer_json), loaded.signature.input_names,
                                       tokenizer_parameters(loaded, pad_to_multiple_of))


def _check_tokenizer(loaded: LoadedModel, encoder: TextEncoder) -> None:
    """The served tokenizer must produce the same tokens as transformers' tokenizer, of pairs or of texts.

    Texts are checked with each prompt that changes them; pairs take no prompt (as CrossEncoder).
    """
    if loaded.info.task is Task.TEXT_RANKING:
        if not check_pair_tokenizer(loaded.tokenizer, encoder, loaded.max_length):
            raise VerificationError("The tokenizer model disagrees with transformers' tokenizer on a verification "
                                    "pair. Nothing was written.", None)
        return
    for name in [None, *named_prompts(loaded)]:
        for index, text in enumerate(encoder.with_prompts(list(VERIFICATION_TEXTS), [name] * len(VERIFICATION_TEXTS))):
            expected = loaded.tokenizer(text, truncation=True, max_length=loaded.max_length)["input_ids"]
            if encoder.tokenizer.encode(text).ids != list(expected):
                prompt = f" with prompt '{name}'" if name else ""
                raise VerificationError(
                    f"The tokenizer model disagrees with transformers' tokenizer on verification text {index}"
                    f"{prompt}. Nothing was written.",
                    None,
                )


def _check_prompt_pooling(loaded: LoadedModel) -> None:
    """Pooling that excludes prompt tokens needs each text's prompt length, which the graph does not take."""
    st_folder = loaded.info.st_folder
    if st_folder is None or st_folder.pooling.include_prompt:
        return
    if any(text for text in st_folder.prompts.prompts.values()):
        raise UnsupportedModelError(
            "This model pools without its prompt tokens (Pooling include_prompt: false) and has prompts: "
            "the exported graph cannot exclude them yet. Nothing was written."
        )


def reference_checks(loaded: LoadedModel, encoder: TextEncoder, head: object, batches: list[dict],
                     outputs: list[list], aggregation_strategy: str = "simple") -> list:
    """PyTorch eager (on the served tokenizer's tokens) against the reference library, per prompt.

    Embeddings and classifiers: sentence-transformers or transformers (:mod:`export.reference_outputs`); the default
    prompt applies to ``batches`` and each named prompt is checked on all texts in one more batch. Rerankers,
    sparse encoders and entities: CrossEncoder, SparseEncoder and transformers' pipeline
    (:mod:`export.tasks.reference_checks`).
    """
    texts = list(VERIFICATION_TEXTS)
    gate = gate_for("fp32", loaded.info.task, GateOverrides())
    checks = task_reference_checks(loaded, batches, outputs, encoder, gate, aggregation_strategy)
    if loaded.info.task not in (Task.TEXT_RANKING, Task.SPARSE_EMBEDDING):
        reference = reference_outputs(loaded, texts)
        checks += compare_with_reference(reference, loaded.signature, batches,
                                         [list(b) for b in VERIFICATION_BATCHES], outputs, gate)
        for name in named_prompts(loaded):
            batch = encoder.encode(texts, name)
            named = reference_outputs(loaded, texts, name)
            result = compare_with_reference(named, loaded.signature, [batch], [list(range(len(texts)))],
                                            [run_head(head, batch, loaded.signature.input_names)], gate)
            checks += [replace(check, artifact=f"{check.artifact} {name}"[:30]) for check in result]
    if not all(check.passed for check in checks):
        raise VerificationError(failure_message(Report(tuple(checks))), Report(tuple(checks)))
    return checks


def _model_folders(names: ModelNames, settings: ExportSettings, loaded: LoadedModel, ensemble_format: Format,
                   artifacts: dict[Format, Path], tokenizer_json: str) -> list[ModelFolder]:
    signature = loaded.signature
    labels = loaded.info.labels
    label_files = {LABELS_FILENAME: ("\n".join(labels) + "\n").encode()} if labels else {}
    has_labels = bool(labels)
    prompts = bool(loaded.info.st_folder and any(loaded.info.st_folder.prompts.prompts.values()))
    backend_files = {PYTHON_MODEL_FILENAME: Path(tokenizer_model.__file__).read_bytes(),
                     TOKENIZER_ENCODING_FILENAME: Path(tokenizer_encoding.__file__).read_bytes()}
    models = [
        ModelFolder(
            ensemble_config(names, ensemble_format, signature, settings, has_labels, prompts),
            root_files=label_files
        ),
        ModelFolder(
            tokenizer_config(names, signature, settings,
                             tokenizer_parameters(loaded, settings.batching.pad_to_multiple_of), prompts),
            version_files={**backend_files, TOKENIZER_FILENAME: tokenizer_json.encode()},
        ),
    ]
    # The steps after the model read the same tokenizer.json, through the same encoding module.
    step_files = {TOKENIZER_ENCODING_FILENAME: backend_files[TOKENIZER_ENCODING_FILENAME],
                  TOKENIZER_FILENAME: tokenizer_json.encode()}
    if signature.task is Task.SPARSE_EMBEDDING:
        models.append(ModelFolder(
            vocabulary_config(names, signature, settings),
            version_files={PYTHON_MODEL_FILENAME: Path(sparse_tokens_model.__file__).read_bytes(), **step_files},
        ))
    if signature.token_spans:
        models.append(ModelFolder(
            entities_config(names, signature, settings, labels),
            version_files={PYTHON_MODEL_FILENAME: Path(entities_model.__file__).read_bytes(), **step_files},
        ))
    for fmt, path in artifacts.items():
        files: dict[str, Path | bytes] = {p.name: p for p in path.parent.iterdir()}
        models.append(
            ModelFolder(artifact_config(names, fmt, signature, settings, has_labels), version_files=files,
                        root_files=label_files)
        )
    return models
