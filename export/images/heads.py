"""What an image model's exported graph computes: ``pixel_values`` in, the task's tensors out.

Classifiers return ``logits`` and ``probabilities`` (softmax, or sigmoid where transformers' pipeline applies
it: multi-label models and single-logit models). Image embeddings are the model's own pooled output, as
``pipeline("image-feature-extraction", pool=True)`` returns it (ViT: tanh(dense(CLS)); DINOv2: the
layer-normed CLS token; ConvNeXt: layer-normed global average), or ``image_embeds`` of
``*VisionModelWithProjection``.
"""

from __future__ import annotations

import torch


def sigmoid_scores(config: object) -> bool:
    """The pipeline applies sigmoid (not softmax) to this classifier's logits."""
    return getattr(config, "problem_type", None) == "multi_label_classification" or config.num_labels == 1


class ImageClassifierHead(torch.nn.Module):
    """``pixel_values`` → (logits, probabilities)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.sigmoid = sigmoid_scores(model.config)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return logits and the pipeline's scores."""
        logits = self.model(pixel_values=pixel_values).logits
        return logits, torch.sigmoid(logits) if self.sigmoid else torch.softmax(logits, dim=-1)


class ImageEmbeddingHead(torch.nn.Module):
    """``pixel_values`` → the model's pooled image embedding."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Return ``image_embeds`` (projection models) or ``pooler_output``, flattened per image."""
        outputs = self.model(pixel_values=pixel_values)
        pooled = getattr(outputs, "image_embeds", None)
        if pooled is None:
            pooled = outputs.pooler_output
        return pooled.flatten(1)


class ImageFeaturesHead(torch.nn.Module):
    """``pixel_values`` → ``get_image_features`` (the image tower of a CLIP-style model, projected)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Return the projected image embedding of each image."""
        outputs = self.model.get_image_features(pixel_values=pixel_values)
        return outputs if isinstance(outputs, torch.Tensor) else outputs.pooler_output


def embedding_kind(model: torch.nn.Module) -> str:
    """Which output is served as the embedding: ``image_embeds`` or ``pooler_output`` (``""``: none)."""
    name = type(model).__name__
    if name.endswith("WithProjection"):
        return "image_embeds"
    return "pooler_output" if getattr(model, "pooler", None) is not None or _pools_itself(model) else ""


def _pools_itself(model: torch.nn.Module) -> bool:
    """The model returns a pooled output without a ``pooler`` module (DINOv2, ConvNeXt, ResNet)."""
    with torch.inference_mode():
        size = getattr(model.config, "image_size", 32)
        size = size if isinstance(size, int) else size[0]
        outputs = model(pixel_values=torch.zeros(1, getattr(model.config, "num_channels", 3), size, size))
    return getattr(outputs, "pooler_output", None) is not None
