"""Compare PyTorch on the served step's pixels with transformers' own pipeline on the same encoded images.

That check covers decoding (EXIF orientation, modes), the image processor and the head's scores at once:
``pipeline("image-classification")`` scores per label, ``pipeline("image-feature-extraction", pool=True)`` or
``get_image_features``-style ``image_embeds`` for embeddings.
"""

from __future__ import annotations

import io

import numpy as np

from export.gates import Gate
from export.signature import Signature, Task
from export.verify import Check, compare

#: What the served answers are compared with.
AGAINST = "transformers.pipeline"


def pipeline_outputs(task: Task, model: object, processor: object, images: list[bytes],
                     labels: tuple[str, ...], image_text: bool = False) -> list[np.ndarray]:
    """The pipeline's answer per image: scores in label order (classification) or the pooled embedding.

    CLIP-style models: ``get_image_features`` on the processor's pixels of the image as ``load_image`` loads it.
    """
    import torch
    from PIL import Image
    from transformers import pipeline

    pil = [Image.open(io.BytesIO(data)) for data in images]
    if task is Task.IMAGE_CLASSIFICATION:
        classify = pipeline("image-classification", model=model, image_processor=processor, device="cpu")
        answers = []
        for image in pil:
            scores = {item["label"]: item["score"] for item in classify(image, top_k=len(labels))}
            answers.append(np.array([scores[label] for label in labels], dtype=np.float32))
        return answers
    if type(model).__name__.endswith("WithProjection") or image_text:
        from transformers.image_utils import load_image

        answers = []
        for image in pil:
            pixels = processor(images=load_image(image), return_tensors="pt")["pixel_values"]
            with torch.inference_mode():
                if image_text:
                    outputs = model.get_image_features(pixel_values=pixels)
                    pooled = outputs if isinstance(outputs, torch.Tensor) else outputs.pooler_output
                else:
                    pooled = model(pixel_values=pixels).image_embeds
            answers.append(pooled[0].numpy())
        return answers
    extract = pipeline("image-feature-extraction", model=model, image_processor=processor, device="cpu")
    return [np.asarray(extract(image, pool=True), dtype=np.float32).reshape(-1) for image in pil]


def pipeline_checks(signature: Signature, batches: list[dict], references: list[list[np.ndarray]],
                    answers: list[np.ndarray], image_batches: tuple[tuple[int, ...], ...], gate: Gate) -> list[Check]:
    """PyTorch (fed the step's pixels) against the pipeline (fed the files), on the task's main output."""
    name = "probabilities" if signature.task is Task.IMAGE_CLASSIFICATION else "embeddings"
    index = signature.output_names.index(name)
    compared = Signature(signature.task, signature.inputs, (signature.outputs[index],))
    expected = [[np.stack([answers[i] for i in batch])] for batch in image_batches]
    actual = [[outputs[index]] for outputs in references]
    checks = compare("pytorch (served pixels)", compared, batches, expected, actual, gate)
    return [_against(check) for check in checks]


def _against(check: Check) -> Check:
    from dataclasses import replace

    return replace(check, against=AGAINST)
