"""Assemble the model folders of one image export: ensemble, preprocessing step and artifacts."""

from __future__ import annotations

from pathlib import Path

from export.python_models import image_model
from export.repository import ModelFolder
from export.settings import ExportSettings, Format
from export.signature import Signature
from export.triton_config import ModelNames, artifact_config, image_ensemble_config, preprocess_config
from tritonize.repo_format import image_preprocessing
from tritonize.repo_format.files import IMAGE_PREPROCESSING_FILENAME, LABELS_FILENAME, PYTHON_MODEL_FILENAME
from tritonize.repo_format.image_preprocessing import ImageParameters


def image_model_folders(names: ModelNames, settings: ExportSettings, signature: Signature,
                        parameters: ImageParameters, ensemble_format: Format, artifacts: dict[Format, Path],
                        labels: tuple[str, ...], client_parameters: dict[str, str] | None = None) -> list[ModelFolder]:
    """Every model folder the image export writes, configs built from the one signature.

    ``client_parameters`` go into the ensemble's config, for clients (a CLIP export's zero-shot settings).
    """
    label_files = {LABELS_FILENAME: ("\n".join(labels) + "\n").encode()} if labels else {}
    models = [
        ModelFolder(image_ensemble_config(names, ensemble_format, signature, settings, bool(labels),
                                          client_parameters),
                    root_files=label_files),
        ModelFolder(
            preprocess_config(names, signature, settings, parameters.as_strings()),
            version_files={PYTHON_MODEL_FILENAME: Path(image_model.__file__).read_bytes(),
                           IMAGE_PREPROCESSING_FILENAME: Path(image_preprocessing.__file__).read_bytes()},
        ),
    ]
    for fmt, path in artifacts.items():
        files: dict[str, Path | bytes] = {p.name: p for p in path.parent.iterdir()}
        models.append(ModelFolder(artifact_config(names, fmt, signature, settings, bool(labels)),
                                  version_files=files, root_files=label_files))
    return models
