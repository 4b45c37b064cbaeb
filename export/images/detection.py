"""Which folders are image models, and what they serve: read from ``config.json`` before any weights load.

``*ForImageClassification`` → image classification; an image model's base class (``ViTModel``,
``Dinov2Model``, ``ConvNextModel`` …) or ``*VisionModelWithProjection`` → image embeddings. No list of
families: whether a model exports is decided by loading, tracing and verifying it.
"""

from __future__ import annotations

from dataclasses import dataclass

from export.architectures import exported_image_task
from export.signature import Task
from export.tasks.detection import class_names


@dataclass(frozen=True)
class ImageModel:
    """An image model the exporter serves from encoded image bytes.

    Attributes:
        task: Image classification or image embeddings.
        architecture: Its class name.
        model_type: Its family.
        labels: Class names in index order (classification).
        image_text: A CLIP-style model: an image tower and a text tower in one embedding space.
    """

    task: Task
    architecture: str
    model_type: str
    labels: tuple[str, ...] = ()
    image_text: bool = False


def image_model(config: dict) -> ImageModel | None:
    """The image task of a folder's ``config.json``, or ``None`` when it is not an image model we serve."""
    architectures = config.get("architectures") or []
    if not architectures:
        return None
    architecture, model_type = architectures[0], str(config.get("model_type", ""))
    task = exported_image_task(model_type, architecture)
    if task == "classification":
        return ImageModel(Task.IMAGE_CLASSIFICATION, architecture, model_type, class_names(config))
    if task in ("embedding", "image-text"):
        return ImageModel(Task.IMAGE_FEATURE_EXTRACTION, architecture, model_type, image_text=task == "image-text")
    return None
