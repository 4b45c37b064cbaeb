"""The client's Python API for image ensembles: encoded images in, labels or embeddings out.

``ImageClient`` speaks to the same server as :class:`~client.text_client.TextClient` (it shares health, model
and config calls) and sends image bytes to ensembles whose one input is ``IMAGE``. A request that Triton
refuses for one bad item (INVALID_ARGUMENT: empty, corrupt, not an image, over the pixel limit) is sent again
an image at a time, so that every other image still gets its answer and the bad one its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from client.errors import InputError, ServerRejected, UnsupportedModel
from client.images import ImageInput, image_tensor, read_images
from client.plan import RequestPlan
from client.results import Label, Prediction
from client.text_client import TextClient
from tritonize.repo_format.image_preprocessing import IMAGE_INPUT
from tritonize.repo_format.zero_shot import ZeroShot, zero_shot_scores

#: Images per request when none is given (capped at the model's ``max_batch_size``).
DEFAULT_REQUEST_IMAGES = 8
#: Statuses of a request refused for its input (HTTP 400, gRPC INVALID_ARGUMENT).
INVALID_INPUT = ("400", "StatusCode.INVALID_ARGUMENT")


class ImageClient(TextClient):
    """Send encoded images to a Triton image ensemble (classifier or image embeddings).

    Example:
        >>> with ImageClient("localhost:8000") as client:
        ...     client.predict_images(["cat.jpg"], model="vit")[0].labels[0].label
        'tabby cat'
    """

    def image_models(self) -> list[str]:
        """Ready ensembles whose one input is ``IMAGE``: the models ``predict_images`` can pick by itself."""
        found = []
        for entry in self.models():
            if entry.ready:
                interface = self.interface(entry.name)
                if interface.is_text_ensemble and interface.inputs[0].name == IMAGE_INPUT:
                    found.append(entry.name)
        return found

    def image_plan(self, model: str | None = None, batch_size: int | None = None,
                   top_k: int | None = None) -> RequestPlan:
        """Resolve the model (``None``: the only image ensemble), check it takes images, read its config.

        Raises:
            UnsupportedModel: The model's input is not ``IMAGE``.
        """
        name = model or self._the_only(self.image_models(), "image ensemble")
        if not self.connection().model_ready(name):
            self._raise_missing(name)
        interface = self.interface(name)
        if [t.name for t in interface.inputs] != [IMAGE_INPUT]:
            raise UnsupportedModel(f"Model '{name}' does not take images (its inputs: "
                                   f"{', '.join(t.name for t in interface.inputs)})")
        return RequestPlan.build(interface, batch_size=batch_size or DEFAULT_REQUEST_IMAGES, top_k=top_k)

    def predict_images(self, images: Sequence[str | Path | ImageInput | bytes], model: str | None = None, *,
                       top_k: int | None = None, batch_size: int | None = None) -> list[Prediction]:
        """One prediction per image, in input order: labels (classifiers) or outputs (embeddings).

        Args:
            images: Paths (files, directories, ``-``), :class:`ImageInput` items or encoded bytes.
            model: An image ensemble; ``None`` picks the server's only one.
            top_k: Classes per image (default: all).
            batch_size: Images per request (default :data:`DEFAULT_REQUEST_IMAGES`, at most ``max_batch_size``).

        Returns:
            Predictions whose ``text`` is the image's name; an image the server refused has ``error`` set
            (Triton's reason) and no outputs.
        """
        items = _inputs(images)
        plan = self.image_plan(model, batch_size=batch_size, top_k=top_k)
        predictions: list[Prediction] = []
        for start in range(0, len(items), plan.batch_size):
            positions = list(range(start, min(start + plan.batch_size, len(items))))
            predictions += self._send_images(plan, [items[i] for i in positions], positions)
        return predictions

    def embed_images(self, images: Sequence[str | Path | ImageInput | bytes], model: str | None = None, *,
                     batch_size: int | None = None) -> list[Prediction]:
        """The ``embeddings`` of every image (an image embedding ensemble), in input order."""
        predictions = self.predict_images(images, model, batch_size=batch_size)
        if predictions and all("embeddings" not in p.outputs for p in predictions if p.error is None):
            raise UnsupportedModel(f"Model '{model}' returns no embeddings")
        return predictions

    def zero_shot_settings(self, model: str) -> ZeroShot:
        """The zero-shot settings a CLIP-style export wrote into image ensemble ``model``'s config.

        Raises:
            UnsupportedModel: The model is not the image tower of a CLIP-style export.
        """
        parameters = {key: value.string_value for key, value in self.model_config(model).parameters.items()}
        settings = ZeroShot.from_strings(parameters)
        if settings is None:
            raise UnsupportedModel(f"Model '{model}' is not the image tower of a CLIP-style export "
                                   "(its config names no text model for zero-shot classification)")
        return settings

    def zero_shot(self, images: Sequence[str | Path | ImageInput | bytes], labels: Sequence[str],
                  model: str | None = None, *, template: str | None = None,
                  batch_size: int | None = None) -> list[Prediction]:
        """Zero-shot classification: each image's scores over ``labels``, best first (``labels`` of each prediction).

        The image tower embeds the images, the text tower named in the image ensemble's config embeds
        ``template.format(label)`` for each label (once for all images), and the scores are the model's:
        cosine × ``logit_scale.exp()`` + ``logit_bias``, softmax over the labels (CLIP) or sigmoid (SigLIP), as
        ``pipeline("zero-shot-image-classification")`` computes them.

        Args:
            images: As for :meth:`predict_images`.
            labels: Candidate labels.
            model: The image ensemble (``NAME_image``); ``None`` picks the server's only image ensemble.
            template: Hypothesis template with ``{}`` for the label (default: the export's, the pipeline's).
            batch_size: Images per request.
        """
        candidates = [label for label in labels if label.strip()]
        if not candidates:
            raise InputError("No candidate labels given")
        plan = self.image_plan(model, batch_size=batch_size)
        settings = self.zero_shot_settings(plan.model)
        hypotheses = [(template or settings.template).format(label) for label in candidates]
        texts = self.predict(hypotheses, settings.text_model, sort_window=0)
        label_embeddings = np.stack([np.asarray(p.outputs["embeddings"]) for p in texts])
        predictions = self.predict_images(images, plan.model, batch_size=batch_size)
        scored = []
        for prediction in predictions:
            if prediction.error is not None:
                scored.append(prediction)
                continue
            scores = zero_shot_scores(np.asarray(prediction.outputs["embeddings"])[None], label_embeddings,
                                      settings)[0]
            ranked = sorted(range(len(candidates)), key=lambda i: -scores[i])
            found = tuple(Label(candidates[i], float(scores[i]), i) for i in ranked)
            scored.append(Prediction(prediction.index, prediction.text, dict(prediction.outputs), labels=found))
        return scored

    def _send_images(self, plan: RequestPlan, images: list[ImageInput], positions: list[int]) -> list[Prediction]:
        """One request; refused for its input, each image again alone (the bad ones keep Triton's reason)."""
        try:
            arrays = self.connection().infer(plan.model, [image_tensor(images)], plan.outputs())
        except ServerRejected as error:
            if error.status not in INVALID_INPUT:
                raise
            if len(images) == 1:
                return [Prediction(index=positions[0], text=images[0].name, error=error.server_message)]
            return [p for image, position in zip(images, positions)
                    for p in self._send_images(plan, [image], [position])]
        return plan.predictions([image.name for image in images], arrays, positions)


def _inputs(images: Sequence[str | Path | ImageInput | bytes]) -> list[ImageInput]:
    """Every given image as an :class:`ImageInput`; paths read (directories expanded), bytes named by position."""
    items: list[ImageInput] = []
    for index, image in enumerate(images):
        if isinstance(image, ImageInput):
            items.append(image)
        elif isinstance(image, (bytes, bytearray)):
            items.append(ImageInput(f"image {index}", bytes(image)))
        else:
            items += read_images([image])
    return items
