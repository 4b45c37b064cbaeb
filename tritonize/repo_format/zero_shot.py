"""Zero-shot image classification from the two towers of a CLIP / SigLIP export: the formula and its settings.

The export writes :class:`ZeroShot` into the image ensemble's config parameters (the text ensemble to call, the
model's ``logit_scale.exp()`` and ``logit_bias``, softmax or sigmoid, the pipeline's default hypothesis
template); the client reads them back and scores with :func:`zero_shot_scores`, the export checks that formula
against ``pipeline("zero-shot-image-classification")``. One definition for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Scores over the candidate labels of one image: exclusive (CLIP) or independent (SigLIP).
SOFTMAX, SIGMOID = "softmax", "sigmoid"
#: transformers' default hypothesis template (``ZeroShotImageClassificationPipeline.preprocess``).
DEFAULT_TEMPLATE = "This is a photo of {}."
#: Config parameter keys on the image ensemble.
KEYS = {"text_model": "zero_shot_text_model", "logit_scale": "zero_shot_logit_scale",
        "logit_bias": "zero_shot_logit_bias", "scores": "zero_shot_scores", "template": "zero_shot_template"}


@dataclass(frozen=True)
class ZeroShot:
    """How an image embedding and candidate-label text embeddings become zero-shot scores.

    Attributes:
        text_model: The text ensemble whose embeddings share the image ensemble's space.
        logit_scale: The model's ``logit_scale.exp()``.
        logit_bias: The model's ``logit_bias`` (SigLIP; 0 for CLIP).
        scores: :data:`SOFTMAX` or :data:`SIGMOID`.
        template: The default hypothesis template (``{}`` is the label).
    """

    text_model: str
    logit_scale: float
    logit_bias: float = 0.0
    scores: str = SOFTMAX
    template: str = DEFAULT_TEMPLATE

    def as_strings(self) -> dict[str, str]:
        """Config parameters (string values)."""
        return {KEYS["text_model"]: self.text_model, KEYS["logit_scale"]: repr(self.logit_scale),
                KEYS["logit_bias"]: repr(self.logit_bias), KEYS["scores"]: self.scores,
                KEYS["template"]: self.template}

    @classmethod
    def from_strings(cls, parameters: dict[str, str]) -> ZeroShot | None:
        """Read :meth:`as_strings` back; ``None`` when the parameters hold no zero-shot settings."""
        if KEYS["text_model"] not in parameters:
            return None
        return cls(parameters[KEYS["text_model"]], float(parameters[KEYS["logit_scale"]]),
                   float(parameters.get(KEYS["logit_bias"], "0")), parameters.get(KEYS["scores"], SOFTMAX),
                   parameters.get(KEYS["template"], DEFAULT_TEMPLATE))


def zero_shot_scores(image_embeddings: np.ndarray, label_embeddings: np.ndarray, settings: ZeroShot) -> np.ndarray:
    """Scores ``[images, labels]``: cosine similarity × scale + bias, then softmax over labels or sigmoid.

    As ``CLIPModel.forward`` / ``SiglipModel.forward`` compute ``logits_per_image`` from normalized embeddings
    and ``pipeline("zero-shot-image-classification")`` turns them into scores.
    """
    images = np.asarray(image_embeddings, dtype=np.float32)
    texts = np.asarray(label_embeddings, dtype=np.float32)
    images = images / np.linalg.norm(images, axis=-1, keepdims=True)
    texts = texts / np.linalg.norm(texts, axis=-1, keepdims=True)
    logits = images @ texts.T * np.float32(settings.logit_scale) + np.float32(settings.logit_bias)
    if settings.scores == SIGMOID:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
