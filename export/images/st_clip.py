"""sentence-transformers CLIP folders: one CLIPModel module, whose image and text embeddings are CLIP's towers.

``SentenceTransformer("clip-ViT-B-32").encode(images)`` is ``get_image_features`` and ``encode(texts)`` is
``get_text_features`` (no pooling, no normalization module), so such a folder exports as the CLIP model in its
module's folder, and is then checked against ``SentenceTransformer.encode`` itself.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from export.errors import UnsupportedModelError
from export.gates import GateOverrides, gate_for
from export.signature import Signature, Task
from export.verify import Check, compare

#: The module class of sentence-transformers' CLIP folders (``sentence_transformers.models.CLIPModel`` and its
#: newer path).
CLIP_MODULE = "CLIPModel"
#: What the checks are against.
AGAINST = "SentenceTransformer.encode"


def clip_module_folder(folder: Path) -> Path | None:
    """The folder of the CLIP model of a sentence-transformers CLIP folder, else ``None``.

    Raises:
        UnsupportedModelError: A CLIPModel module followed by other modules (a Normalize, a Dense).
    """
    modules = folder / "modules.json"
    if not modules.is_file():
        return None
    try:
        entries = sorted(json.loads(modules.read_text()), key=lambda e: int(e.get("idx", 0)))
    except (ValueError, TypeError, AttributeError):
        return None
    kinds = [str(entry.get("type", "")).rsplit(".", 1)[-1] for entry in entries]
    if CLIP_MODULE not in kinds:
        return None
    if kinds != [CLIP_MODULE]:
        raise UnsupportedModelError(f"This sentence-transformers CLIP folder has the modules {', '.join(kinds)}: "
                                    f"tritonize serves CLIP folders with one CLIPModel module.")
    return folder / entries[0].get("path", "")


def sentence_transformers_checks(folder: Path, images: list[bytes], image_embeddings: np.ndarray,
                                 image_signature: Signature, image_batch: dict, texts: list[str],
                                 text_embeddings: np.ndarray) -> list[Check]:
    """PyTorch's tower outputs (served pixels and tokens) against ``SentenceTransformer.encode``.

    The images go to ``encode`` decoded as the served step (and ``pipeline``) decodes them: upright by their
    EXIF orientation, converted to RGB by ``load_image``. ``encode(PIL.Image.open(file))`` itself neither applies
    EXIF orientation nor drops alpha that way (it composites transparency on white), so for rotated or
    transparent files it differs from the pipeline; the served ensemble follows the pipeline.
    """
    from sentence_transformers import SentenceTransformer

    from tritonize.repo_format.image_preprocessing import decode

    model = SentenceTransformer(str(folder), device="cpu")
    gate = gate_for("fp32", Task.FEATURE_EXTRACTION, GateOverrides())
    encoded = model.encode([decode(data) for data in images], convert_to_numpy=True)
    checks = compare("pytorch (served pixels)", image_signature, [image_batch], [[encoded]], [[image_embeddings]],
                     gate)
    text_signature = Signature(Task.FEATURE_EXTRACTION, image_signature.inputs, image_signature.outputs)
    batch = {image_signature.input_names[0]: np.zeros((len(texts), 1), np.float32)}
    encoded_texts = model.encode(texts, convert_to_numpy=True)
    checks += [replace(c, artifact="text pytorch (served tokens)")
               for c in compare("text", text_signature, [batch], [[encoded_texts]], [[text_embeddings]], gate)]
    return [replace(check, against=AGAINST) for check in checks]


def refuse_unless_image_text(st_folder: Path | None, image_text: bool) -> None:
    """A sentence-transformers CLIP folder must hold a CLIP-style model (both towers)."""
    if st_folder is not None and not image_text:
        raise UnsupportedModelError("The CLIPModel module of this sentence-transformers folder holds no CLIP-style "
                                    "model (an image tower and a text tower).")
