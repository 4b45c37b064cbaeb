"""File and folder names of a Triton model repository, and how version folders are found.

``TOKENIZER_FILENAME`` is defined in :mod:`.tokenizer_encoding` (the tokenizer model reads it inside Triton)
and re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from tritonize.repo_format.tokenizer_encoding import TOKENIZER_FILENAME

__all__ = [
    "BATCHING_FILENAME", "CONFIG_FILENAME", "IMAGE_PREPROCESSING_FILENAME",
    "LABELS_FILENAME", "MULTI_VECTOR_FILENAME", "NLI_ZERO_SHOT_FILENAME", "ONNX_FILENAME", "PYTHON_MODEL_FILENAME",
    "TENSORRT_CACHE_DIR", "TOKENIZER_ENCODING_FILENAME", "TOKENIZER_FILENAME", "TORCHSCRIPT_FILENAME",
    "version_folders",
]

#: A model's configuration, beside its version folders.
CONFIG_FILENAME = "config.pbtxt"
#: Class names of labelled outputs, beside ``config.pbtxt``.
LABELS_FILENAME = "labels.txt"
#: A Python-backend model's code, in each version folder.
PYTHON_MODEL_FILENAME = "model.py"
#: The tokenizer model's encoder module, beside its ``model.py`` (a copy of :mod:`.tokenizer_encoding`).
TOKENIZER_ENCODING_FILENAME = "tritonize_tokenizer.py"
#: The adapters' and the one-step model's batching loop, beside their ``model.py`` (a copy of
#: ``server/adapters/batching.py``).
BATCHING_FILENAME = "tritonize_batching.py"
#: The text zero-shot model's contract and arithmetic, beside its ``model.py`` (a copy of :mod:`.nli_zero_shot`).
NLI_ZERO_SHOT_FILENAME = "tritonize_nli_zero_shot.py"
#: The vectors step's wire format, beside its ``model.py`` (a copy of :mod:`.multi_vector`).
MULTI_VECTOR_FILENAME = "tritonize_multi_vector.py"
#: The image step's preprocessing module, beside its ``model.py`` (a copy of :mod:`.image_preprocessing`).
IMAGE_PREPROCESSING_FILENAME = "tritonize_image.py"
#: Default artifact of Triton's onnxruntime backend.
ONNX_FILENAME = "model.onnx"
#: Default artifact of Triton's pytorch (libtorch) backend.
TORCHSCRIPT_FILENAME = "model.pt"
#: ONNX Runtime's TensorRT engine cache, inside the model folder.
TENSORRT_CACHE_DIR = "trt_engine_cache"


def version_folders(model_dir: Path) -> list[Path]:
    """The numeric version folders of a model, oldest first (none when ``model_dir`` is not a folder)."""
    if not model_dir.is_dir():
        return []
    return sorted((p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
