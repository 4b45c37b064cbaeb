"""Triton's names for the backends tritonize writes: platforms, backends, thread parameters, output names."""

from __future__ import annotations

import re
from typing import Literal

Format = Literal["onnx", "torchscript"]

#: Triton platform of each artifact format.
PLATFORMS: dict[Format, str] = {"onnx": "onnxruntime_onnx", "torchscript": "pytorch_libtorch"}
#: Triton backend of each artifact format (a config may name the backend instead of the platform).
BACKENDS: dict[Format, str] = {"onnx": "onnxruntime", "torchscript": "pytorch"}
ENSEMBLE_PLATFORM = "ensemble"
PYTHON_BACKEND = "python"

#: Config parameter that marks the model clients call when it is not an ensemble: ``one-step`` (a Python-backend
#: model that tokenizes and runs the ONNX model in one step, written by ``python -m export --serving one-step``).
SERVING_KEY = "tritonize_serving"
ONE_STEP = "one-step"

#: Config parameter with each backend's intra-op thread count (onnxruntime_backend, pytorch_backend).
INTRA_OP_THREADS: dict[Format, str] = {"onnx": "intra_op_thread_count", "torchscript": "INTRA_OP_THREAD_COUNT"}
#: Config parameter with each backend's inter-op thread count.
INTER_OP_THREADS: dict[Format, str] = {"onnx": "inter_op_thread_count", "torchscript": "INTER_OP_THREAD_COUNT"}


#: A libtorch tensor name: ``<base>__<index>`` (the argument or the element of the returned tuple it stands for).
LIBTORCH_NAME = re.compile(r"^(?P<base>.+)__(?P<index>\d+)$")


def libtorch_output_name(name: str, index: int) -> str:
    """The libtorch backend's name for an output: ``<name>__<index in the returned tuple>``."""
    return f"{name}__{index}"


def libtorch_base_name(name: str) -> str:
    """A tensor name without libtorch's ``__<index>`` suffix (unchanged when it has none)."""
    match = LIBTORCH_NAME.match(name)
    return match["base"] if match else name
