"""The image export: pixels checked, artifacts checked, served answers checked against transformers' pipeline.

Processor → the served step's parameters (pixels compared with the processor's), model → artifacts (compared
with PyTorch), PyTorch on the served pixels → transformers' pipeline on the files, load check, swap in.

The order and the rule are the text export's (:mod:`export.pipeline`): nothing is written unless every check
passes, and the staged models answer the verification images in the local Triton before the swap.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from export.artifacts import artifact_gate, export_and_verify
from export.errors import ExportFailedError, UnsupportedModelError, VerificationError
from export.failure import failure_message
from export.gates import GateOverrides, gate_for
from export.images.detection import ImageModel
from export.images.folders import image_model_folders
from export.images.heads import ImageClassifierHead, ImageEmbeddingHead, ImageFeaturesHead, embedding_kind
from export.images.processor import image_parameters, pixel_check
from export.images.reference import pipeline_checks, pipeline_outputs
from export.images.st_clip import refuse_unless_image_text, sentence_transformers_checks
from export.images.text_tower import export_text_tower
from export.images.verification import IMAGE_BATCHES, verification_images
from export.images.zero_shot_check import served_text_checks, zero_shot_checks, zero_shot_settings
from export.load_check import LoadCheck, Skipped, serve_staged
from export.load_model import LoadedModel, ModelInfo
from export.progress import Progress
from export.repository import check_name, choose_version, retired_models, staged_models, swap_in
from export.settings import ExportSettings, image_serving
from export.signature import Task, image_signature
from export.source import ModelSource, default_name
from export.st_modules import Pooling
from export.tracing import first_line
from export.triton_config import ModelNames
from export.verify import VERIFICATION_TEXTS, Check, Report, compare
from tritonize.repo_format.image_preprocessing import IMAGE_INPUT, PIXEL_VALUES, preprocess

#: Why the load check did not run when the settings skip it.
SKIPPED_BY_OPTION = "--skip-load-check"


def run_image_export(settings: ExportSettings, source: ModelSource, image_model: ImageModel, ensemble_format: str,
                     progress: Progress, st_folder: Path | None = None) -> object:
    """Export, verify and write one image model; nothing is written unless every check passes.

    The image models are written with the image defaults (:func:`export.settings.image_serving`) wherever
    ``settings`` holds a default; a CLIP-style model's text tower keeps the text defaults.

    ``st_folder``: the sentence-transformers CLIP folder ``source`` is the CLIPModel module of; the towers are
    then also checked against ``SentenceTransformer.encode``.

    Returns:
        The :class:`export.pipeline.ExportResult` of the export.

    Raises:
        ExportError: Any failure a user can act on (see :mod:`export.errors`).
    """
    from export.pipeline import ExportResult

    task = image_model.task
    image_settings = image_serving(settings)  # the text tower keeps the text defaults
    refuse_unless_image_text(st_folder, image_model.image_text)
    base = check_name(settings.name or default_name(source.model_id))
    names = ModelNames(f"{base}_image" if image_model.image_text else base)
    model_names = [names.ensemble, names.preprocess, *(names.artifact(fmt) for fmt in settings.formats)]
    if image_model.image_text:
        text_names = ModelNames(f"{base}_text")
        model_names += [text_names.ensemble, text_names.tokenizer, *(text_names.artifact(f) for f in settings.formats)]
    version = choose_version(settings.repository, model_names, settings.version, settings.force)
    with progress.step(f"Loading {source.model_id}"):
        model, processor, tokenizer = _load(source, image_model, settings.trust_remote_code)
    parameters = image_parameters(processor)
    images = list(verification_images().values())
    with progress.step(f"Checking the image step's pixels against {type(processor).__name__}"):
        checked_pixels = pixel_check(processor, parameters, images)
    labels = image_model.labels
    if task is Task.IMAGE_CLASSIFICATION:
        head = ImageClassifierHead(model).eval()
        signature = image_signature(task, parameters.output_size, num_labels=len(labels))
    elif image_model.image_text:
        head = ImageFeaturesHead(model).eval()
        width = int(_run(head, np.zeros((1, 3, *parameters.output_size), np.float32))[0].shape[-1])
        signature = image_signature(task, parameters.output_size, width=width)
    else:
        if not embedding_kind(model):
            raise UnsupportedModelError(f"'{image_model.architecture}' returns no pooled output: tritonize serves "
                                        f"image embeddings a model pools itself (pooler_output, image_embeds).")
        head = ImageEmbeddingHead(model).eval()
        width = int(_run(head, np.zeros((1, 3, *parameters.output_size), np.float32))[0].shape[-1])
        signature = image_signature(task, parameters.output_size, width=width)
    served = [preprocess(data, parameters) for data in images]
    batches = [{PIXEL_VALUES: np.stack([served[i] for i in batch])} for batch in IMAGE_BATCHES]
    references = [_run(head, batch[PIXEL_VALUES]) for batch in batches]
    loaded = LoadedModel(
        info=ModelInfo(source=source, task=task, model_type=image_model.model_type,
                       architecture=image_model.architecture, pooling=Pooling(("cls",)), labels=labels,
                       multi_label=False),
        model=model, tokenizer=None, signature=signature, max_length=0, pad_token_id=0,
    )
    with progress.step("Verifying PyTorch on the served pixels against transformers' pipeline on the files"):
        answers = pipeline_outputs(task, model, processor, images, labels, image_model.image_text)
        checks: list[Check] = pipeline_checks(signature, batches, references, answers, IMAGE_BATCHES,
                                              gate_for("fp32", task, GateOverrides()))
    _raise_unless_passed(checks)
    with tempfile.TemporaryDirectory(prefix="tritonize-export-") as tmp:
        artifacts, artifact_checks = export_and_verify(head, loaded, batches, references, Path(tmp), settings,
                                                       progress, signature, lambda outputs: outputs)
        checks.extend(artifact_checks)
        _raise_unless_passed(checks)
        tower, zero_shot = None, None
        if image_model.image_text:
            tower = export_text_tower(model, tokenizer, source, base, settings, ensemble_format, Path(tmp), progress)
            checks.extend(tower.checks)
            _raise_unless_passed(checks)
            zero_shot = zero_shot_settings(model, tower.names.ensemble)
            with progress.step("Verifying zero-shot scores against pipeline('zero-shot-image-classification')"):
                checks.extend(zero_shot_checks(model, processor, tokenizer, images, references, zero_shot, tower))
            if st_folder is not None:
                with progress.step("Verifying both towers against SentenceTransformer.encode"):
                    texts = list(VERIFICATION_TEXTS)
                    checks.extend(sentence_transformers_checks(st_folder, images, references[-1][0], signature,
                                                               batches[-1], texts, tower.embed(texts)))
            _raise_unless_passed(checks)
        models = image_model_folders(names, image_settings, signature, parameters, ensemble_format, artifacts, labels,
                                     zero_shot.as_strings() if zero_shot else None)
        models += tower.models if tower else []
        with staged_models(settings.repository, models, version) as staging:
            load_check = LoadCheck(False, note=SKIPPED_BY_OPTION)
            if settings.load_check:
                with progress.step("Loading the staged models in the local Triton and querying the ensemble"):
                    requests = [{IMAGE_INPUT: [images[i] for i in batch]} for batch in IMAGE_BATCHES]
                    served_answers = serve_staged(staging, names.ensemble, requests, signature.output_names)
                if isinstance(served_answers, Skipped):
                    load_check = LoadCheck(False, note=served_answers.reason)
                else:
                    gate = artifact_gate(ensemble_format, settings, loaded)
                    checks.extend(compare(served_answers.row, signature, batches, references,
                                          served_answers.outputs, gate))
                    if tower is not None:
                        checks.extend(served_text_checks(staging, tower, ensemble_format))
                    _raise_unless_passed(checks)
                    load_check = LoadCheck(True, served_answers.seconds, served_answers.version)
            with progress.step(f"Writing version {version} to {settings.repository}"):
                retired = tuple(retired_models(settings.repository, models))
                files = swap_in(staging, settings.repository, models, version, retired)
    return ExportResult(
        model_id=source.model_id, names=names, task=task, signature=signature, version=version,
        formats=settings.formats, ensemble_format=ensemble_format, report=Report(tuple(checks)), files=files,
        repository=settings.repository.resolve(), max_length=0, labels=labels, load_check=load_check,
        pixel_check=checked_pixels, text_names=tower.names if tower else None, image_serving=image_settings,
        retired=retired,
    )


def _load(source: ModelSource, image_model: ImageModel, trust_remote_code: bool) -> tuple[object, object, object]:
    """The fp32 CPU model (eager attention), its image processor and (CLIP-style models) its tokenizer.

    The class named in ``config.json`` loads when transformers has it (``CLIPVisionModelWithProjection``,
    ``CLIPModel``: the auto classes would load a sibling), else the auto class of the task.
    """
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    auto = (transformers.AutoModelForImageClassification if image_model.task is Task.IMAGE_CLASSIFICATION
            else transformers.AutoModel)
    auto = getattr(transformers, image_model.architecture, None) or auto
    folder = str(source.folder)
    tokenizer = None
    if image_model.image_text:
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
        except (ValueError, KeyError, OSError, ImportError, TypeError, AttributeError) as error:
            raise UnsupportedModelError(f"'{image_model.architecture}' has no tokenizer transformers loads: "
                                        f"{first_line(error)}") from error
    try:
        processor = transformers.AutoImageProcessor.from_pretrained(folder, trust_remote_code=trust_remote_code)
    except (ValueError, KeyError, OSError, ImportError, TypeError, AttributeError) as error:
        raise UnsupportedModelError(f"'{image_model.architecture}' has no image processor transformers loads "
                                    f"(preprocessor_config.json): {first_line(error)}") from error
    try:
        model = auto.from_pretrained(folder, trust_remote_code=trust_remote_code, attn_implementation="eager")
    except (ValueError, KeyError, OSError, ImportError, TypeError, AttributeError) as error:
        try:
            model = auto.from_pretrained(folder, trust_remote_code=trust_remote_code)
        except (ValueError, KeyError, OSError, ImportError, TypeError, AttributeError):
            raise UnsupportedModelError(f"Cannot load '{image_model.architecture}' with transformers: "
                                        f"{first_line(error)}") from error
    return model.float().eval(), processor, tokenizer


def _run(head: object, pixel_values: np.ndarray) -> list[np.ndarray]:
    """PyTorch eager outputs of the head on one batch."""
    import torch

    try:
        with torch.inference_mode():
            outputs = head(torch.from_numpy(pixel_values))
    except Exception as error:  # noqa: BLE001 - any model code can fail; the user needs the reason, not a trace
        raise ExportFailedError(f"The model does not run in PyTorch: {first_line(error)}. "
                                f"Nothing was written.") from error
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return [output.float().numpy() for output in outputs]


def _raise_unless_passed(checks: list) -> None:
    report = Report(tuple(checks))
    if not report.passed:
        raise VerificationError(failure_message(report), report)

