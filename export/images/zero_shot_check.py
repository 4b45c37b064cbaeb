"""A CLIP-style export's zero-shot settings, checked against transformers' zero-shot pipeline.

Zero-shot classification is composed by the client from the two served towers (:mod:`client.image_client`):
the image embedding, the candidate labels' text embeddings (through the hypothesis template), and
:func:`tritonize.repo_format.zero_shot.zero_shot_scores` with the model's logit scale and bias, which the
export writes into the image ensemble's config. This module checks that composition, on PyTorch's tower
outputs, against ``pipeline("zero-shot-image-classification")`` on the files, and the served text tower.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from export.artifacts import artifact_gate
from export.errors import VerificationError
from export.gates import GateOverrides, gate_for
from export.images.text_tower import TextTower
from export.load_check import Skipped, serve_staged
from export.signature import Signature, Task, TensorSpec
from export.verify import Check, compare
from tritonize.repo_format.zero_shot import SIGMOID, SOFTMAX, ZeroShot, zero_shot_scores

#: Candidate labels of the check.
CHECK_LABELS = ("cat", "dog", "a red square", "the sea")


def zero_shot_settings(model: object, text_model: str) -> ZeroShot:
    """The model's ``logit_scale.exp()``, ``logit_bias`` (SigLIP) and score function, as its pipeline uses them."""
    scale = float(model.logit_scale.detach().exp())
    bias = float(model.logit_bias.detach().reshape(-1)[0]) if getattr(model, "logit_bias", None) is not None else 0.0
    siglip = "siglip" in model.config.model_type
    return ZeroShot(text_model, scale, bias, SIGMOID if siglip else SOFTMAX)


def zero_shot_checks(model: object, processor: object, tokenizer: object, images: list[bytes],
                     references: list[list[np.ndarray]], settings: ZeroShot, tower: TextTower) -> list[Check]:
    """The composed scores (PyTorch tower outputs, the served tokens) against the pipeline's, every image."""
    from PIL import Image
    from transformers import pipeline

    classify = pipeline("zero-shot-image-classification", model=model, tokenizer=tokenizer,
                        image_processor=processor, device="cpu")
    expected = []
    for data in images:
        answer = {a["label"]: a["score"] for a in classify(Image.open(io.BytesIO(data)),
                                                           candidate_labels=list(CHECK_LABELS))}
        expected.append([answer[label] for label in CHECK_LABELS])
    image_embeddings = references[-1][0]  # the last verification batch holds every image, in order
    label_embeddings = tower.embed([settings.template.format(label) for label in CHECK_LABELS])
    got = zero_shot_scores(image_embeddings, label_embeddings, settings)
    pixels = TensorSpec("pixel_values", mc.TYPE_FP32, (3,))
    scores = TensorSpec("zero_shot_scores", mc.TYPE_FP32, (len(CHECK_LABELS),), labelled=True)
    signature = Signature(Task.IMAGE_CLASSIFICATION, (pixels,), (scores,))
    batch = {"pixel_values": np.zeros((len(images), 3), np.float32)}
    gate = replace(gate_for("fp32", Task.IMAGE_CLASSIFICATION, GateOverrides()), min_agreement=None)
    checks = compare("zero-shot (towers)", signature, [batch], [[np.array(expected, np.float32)]], [[got]], gate)
    return [replace(check, against="pipeline zero-shot") for check in checks]


def served_text_checks(staging: Path, tower: TextTower, fmt: str) -> list[Check]:
    """The staged text ensemble in the local Triton against PyTorch on the verification texts."""
    served = serve_staged(staging, tower.names.ensemble, tower.requests(), tower.loaded.signature.output_names)
    if isinstance(served, Skipped):
        raise VerificationError(f"The text tower could not be served: {served.reason}", None)
    gate = artifact_gate(fmt, tower.settings, tower.loaded)
    return [replace(c, artifact=f"text {c.artifact}"[:30])
            for c in compare(served.row, tower.loaded.signature, tower.batches, tower.references, served.outputs,
                             gate)]
