"""The export pipeline: resolve → load → export → verify → stage → load check → swap into the repository.

Each step lives in a module of its own; this one orders them and decides that nothing is written unless every
check passes.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from export.artifacts import artifact_gate, export_and_verify
from export.errors import ExportFailedError, UnsupportedModelError, UsageError, VerificationError
from export.failure import failure_message
from export.folder_check import check_files, check_weights
from export.folders import model_folders
from export.images.detection import image_model
from export.images.pipeline import run_image_export
from export.images.processor import PixelCheck
from export.images.st_clip import clip_module_folder
from export.load_check import LoadCheck, Skipped, serve_staged, verification_requests
from export.load_model import load_model, read_info
from export.postprocess_heads import build_head, run_head
from export.progress import Progress
from export.reference_checks import reference_checks
from export.repository import check_name, choose_version, retired_models, staged_models, swap_in
from export.served_tokenizer import check_prompt_pooling, check_served_tokenizer, text_encoder
from export.serving import ServingChoice, choose_serving
from export.settings import ONE_STEP_PAD_TO_MULTIPLE_OF, ExportSettings, Format
from export.settings_check import validate
from export.signature import Signature, Task
from export.source import default_name, resolve_source
from export.tasks.detection import describe_detection
from export.tasks.multi_vector_check import (
    checked_signature,
    document_rule,
    expected_view,
    requested,
    served_view,
)
from export.tasks.rerank import pair_verification_inputs
from export.tasks.sparse import dense_view
from export.tasks.zero_shot import zero_shot_entailment
from export.tokenizer_check import check_tokenizer
from export.tracing import first_line
from export.triton_config import ModelNames
from export.verify import Report, compare, verification_inputs

__all__ = ["ExportResult", "run_export"]

#: Why the load check did not run when the settings skip it.
SKIPPED_BY_OPTION = "--skip-load-check"


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
        load_check: Whether the staged models were loaded and queried in the local Triton, and how long it took.
        detection: Which task the folder's files chose and the ``--task`` that changes it (empty when plain).
        zero_shot: The export also wrote the zero-shot model (NLI pair classifiers).
        pixel_check: The image step's pixels against the image processor's (image models).
        text_names: The text tower's models (CLIP-style exports; ``names`` are then the image tower's).
        serving: The serving path taken (one-step model or ensemble) and why.
        image_serving: The settings the image models were written with: the image defaults in place of the
            ones the caller did not choose (image models; :func:`export.settings.image_serving`).
        retired: Models removed from the repository: steps of the ensembles this export replaced that nothing
            calls any more (:func:`export.repository.retired_models`).
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
    load_check: LoadCheck = LoadCheck(False, note=SKIPPED_BY_OPTION)
    detection: str = ""
    zero_shot: bool = False
    pixel_check: PixelCheck | None = None
    text_names: ModelNames | None = None
    serving: ServingChoice = ServingChoice("ensemble", "image exports serve as an ensemble")
    image_serving: ExportSettings | None = None
    retired: tuple[str, ...] = ()


def run_export(settings: ExportSettings, progress: Progress | None = None) -> ExportResult:
    """Export, verify and write one model; nothing is written unless every check passes.

    Raises:
        ExportError: Any failure a user can act on (see :mod:`export.errors`).
    """
    progress = progress or Progress(stream=None)
    ensemble_format = validate(settings)
    with progress.step("Resolving model"):
        source = resolve_source(settings.model, settings.revision)
        check_files(source.folder, source.model_id)
        clip_folder = clip_module_folder(source.folder)  # a sentence-transformers CLIP folder's model
        config_path = (clip_folder or source.folder) / "config.json"
        image = image_model(json.loads(config_path.read_text())) if config_path.is_file() else None
        if image is not None and settings.task not in (None, image.task):
            raise UnsupportedModelError(f"'{image.architecture}' is an image model: its task is {image.task.value} "
                                        f"(leave --task out).")
        if image is not None and settings.serving == "one-step":
            raise UsageError("--serving one-step applies to text exports: an image model's ensemble decodes and "
                             "preprocesses images first. Leave it out or pass --serving ensemble.")
        if image is not None:
            check_weights(clip_folder or source.folder, source.model_id)
            if clip_folder is None:
                return run_image_export(settings, source, image, ensemble_format, progress)
            return run_image_export(settings, replace(source, folder=clip_folder), image, ensemble_format, progress,
                                    st_folder=source.folder)
        info = read_info(source, settings.task)
        check_weights(source.folder, source.model_id)
    names = ModelNames(check_name(settings.name or default_name(source.model_id)))
    serving = choose_serving(settings, info.task, ensemble_format, zero_shot_entailment(info) is not None)
    if serving.one_step and "pad_to_multiple_of" in settings.defaulted:
        settings = replace(settings, batching=replace(settings.batching,
                                                      pad_to_multiple_of=ONE_STEP_PAD_TO_MULTIPLE_OF))
    model_names = [names.ensemble, names.tokenizer, *(names.artifact(fmt) for fmt in settings.formats)]
    if serving.one_step:  # one model in place of the ensemble, its tokenizer and the ONNX model
        model_names = [names.ensemble, *(names.artifact(fmt) for fmt in settings.formats if fmt != "onnx")]
    if info.task is Task.TOKEN_CLASSIFICATION:
        model_names.append(names.entities)
    if info.task is Task.SPARSE_EMBEDDING:
        model_names.append(names.vocabulary)
    if zero_shot_entailment(info) is not None:
        model_names.append(names.zero_shot)
    if info.task is Task.MULTI_VECTOR:
        model_names.append(names.vectors)
        if not info.m3:
            model_names += [names.query.ensemble, names.query.tokenizer, names.query.vectors]
    version = choose_version(settings.repository, model_names, settings.version, settings.force)
    with progress.step(f"Loading {source.model_id}"):
        loaded = load_model(info, settings.trust_remote_code, settings.truncate_dim, settings.sparse_top_k)
    check_prompt_pooling(loaded)
    tokenizer_json = loaded.tokenizer.backend_tokenizer.to_str()
    encoder = text_encoder(loaded, tokenizer_json, settings.batching.pad_to_multiple_of)
    check_tokenizer(source.folder, source.model_id, loaded.tokenizer, encoder.tokenizer)
    check_served_tokenizer(loaded, encoder)
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
        artifacts, artifact_checks = export_and_verify(head, loaded, batches, references, Path(tmp), settings,
                                                       progress, checked, view)
        checks.extend(artifact_checks)
        _raise_unless_passed(checks)
        models = model_folders(names, settings, loaded, ensemble_format, artifacts, tokenizer_json,
                               serving.one_step)
        with staged_models(settings.repository, models, version) as staging:
            load_check = LoadCheck(False, note=SKIPPED_BY_OPTION)
            if settings.load_check:
                served_names, served_checked, expected = signature.output_names, checked, references
                served_as = lambda batch, outputs: view(outputs)  # noqa: E731 - one line per task
                if info.task is Task.MULTI_VECTOR:  # packed vectors: both sides laid out by the kept positions
                    rule = document_rule(loaded)
                    served_names, served_checked = requested(signature), checked_signature(signature)
                    expected = [expected_view(signature, b, o, rule) for b, o in zip(batches, references)]
                    served_as = lambda batch, outputs: served_view(signature, batch, outputs, rule)  # noqa: E731
                with progress.step("Loading the staged models in the local Triton and querying the ensemble"):
                    served = serve_staged(staging, names.ensemble, verification_requests(info.task), served_names)
                if isinstance(served, Skipped):
                    load_check = LoadCheck(False, note=served.reason)
                else:
                    gate = artifact_gate(ensemble_format, settings, loaded)
                    checks.extend(compare(served.row, served_checked, batches, expected,
                                          [served_as(b, o) for b, o in zip(batches, served.outputs)], gate))
                    _raise_unless_passed(checks)
                    load_check = LoadCheck(True, served.seconds, served.version)
            with progress.step(f"Writing version {version} to {settings.repository}"):
                retired = tuple(retired_models(settings.repository, models))
                files = swap_in(staging, settings.repository, models, version, retired)
    return ExportResult(
        model_id=source.model_id, names=names, task=info.task, signature=signature, version=version,
        formats=settings.formats, ensemble_format=ensemble_format, report=Report(tuple(checks)), files=files,
        repository=settings.repository.resolve(), max_length=loaded.max_length, labels=info.labels,
        load_check=load_check, detection=describe_detection(info.detection, info.task),
        zero_shot=zero_shot_entailment(info) is not None, serving=serving, retired=retired,
    )


def _raise_unless_passed(checks: list) -> None:
    """Stop the export, with the first failed check's numbers in one line, unless every check passed."""
    report = Report(tuple(checks))
    if not report.passed:
        raise VerificationError(failure_message(report), report)


def _run_eager(head: object, batches: list[dict], signature: Signature, architecture: str) -> list[list]:
    """PyTorch eager outputs of the head on every batch; a model that cannot run says why in one line."""
    try:
        return [run_head(head, batch, signature.input_names) for batch in batches]
    except Exception as error:  # noqa: BLE001 - any model code can fail; the user needs the reason, not a trace
        reason = first_line(error).rstrip(".")
        hint = ""
        if "padding token" in reason:  # decoder classifiers read the last non-padding token
            hint = (" Set \"pad_token_id\" in config.json (e.g. to the EOS token id), as transformers' pipeline "
                    "does for one text, so that batches know where each text ends.")
        raise ExportFailedError(f"'{architecture}' does not run in PyTorch: {reason}.{hint} "
                                f"Nothing was written.") from error
