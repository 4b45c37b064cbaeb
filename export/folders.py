"""Assemble the model folders of one export: ensemble, tokenizer, post-processing steps and artifacts."""

from __future__ import annotations

from pathlib import Path

from export.load_model import LoadedModel
from export.python_models import entities_model, sparse_tokens_model, tokenizer_model
from export.repository import ModelFolder
from export.served_tokenizer import tokenizer_parameters
from export.settings import ExportSettings, Format
from export.signature import Task
from export.triton_config import (
    ModelNames,
    artifact_config,
    ensemble_config,
    entities_config,
    tokenizer_config,
    vocabulary_config,
)
from tritonize.repo_format import tokenizer_encoding
from tritonize.repo_format.files import (
    LABELS_FILENAME,
    PYTHON_MODEL_FILENAME,
    TOKENIZER_ENCODING_FILENAME,
    TOKENIZER_FILENAME,
)


def model_folders(names: ModelNames, settings: ExportSettings, loaded: LoadedModel, ensemble_format: Format,
                  artifacts: dict[Format, Path], tokenizer_json: str) -> list[ModelFolder]:
    """Every model folder the export writes, configs built from the one signature."""
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
