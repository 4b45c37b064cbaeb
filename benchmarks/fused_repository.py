"""Add the one-step text model of the hop A/B (:mod:`benchmarks.fused_text_model`) beside an exported ensemble.

``<name>_fused`` takes the ensemble's text input and gives the ONNX model's outputs; its config is the ONNX
model's (instances, dynamic batching, queue policy, thread parameters) with the tokenizer model's parameters
added, built as a ``ModelConfig`` object. ``<name>_fused_unbatched`` has no dynamic batcher: Triton's default
scheduler hands each request to the next free instance. With texts in, the batcher merges requests of any
length into one execute, which then runs one ONNX Runtime call per token-length group one after another on one
instance while the others may idle; unbatched, the instances share the requests (and lose the queue policy,
which lives in the dynamic batcher's config). Its version folder links the export's own ``model.onnx`` and
``tokenizer.json``, so both paths serve the same files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from benchmarks import fused_text_model
from server.adapters import batching
from server.config_rewrite import BATCHING_FILENAME
from tritonize.repo_format.files import ONNX_FILENAME, TOKENIZER_ENCODING_FILENAME, TOKENIZER_FILENAME
from tritonize.repo_format.names import ModelNames
from tritonize.repo_format.pbtxt import read_config, render


def fused_name(base: str, batched: bool = True) -> str:
    """The one-step model's name for the export ``base``."""
    return f"{base}_fused" + ("" if batched else "_unbatched")


def fused_config(onnx: mc.ModelConfig, tokenizer: mc.ModelConfig, name: str, batched: bool = True) -> mc.ModelConfig:
    """The ONNX model's config served by the Python backend, with the tokenizer's text input and parameters;
    without the dynamic batcher unless ``batched``."""
    config = mc.ModelConfig()
    config.CopyFrom(onnx)
    config.name = name
    config.platform = ""
    config.backend = "python"
    del config.input[:]
    config.input.extend(tokenizer.input)
    config.ClearField("model_warmup")  # the ONNX model's warm-up feeds token tensors, not texts
    for key, value in tokenizer.parameters.items():
        config.parameters[key].CopyFrom(value)
    if not batched:
        config.ClearField("dynamic_batching")
    return config


def add_fused(repository: Path, base: str, batched: bool = True) -> str:
    """Write the one-step model into ``repository`` from the export ``base`` (ONNX format); return its name."""
    names = ModelNames(base)
    onnx_dir, tokenizer_dir = repository / names.artifact("onnx"), repository / names.tokenizer
    name = fused_name(base, batched)
    target = repository / name
    shutil.rmtree(target, ignore_errors=True)
    version = target / "1"
    version.mkdir(parents=True)
    onnx_version = max((p for p in onnx_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    tokenizer_version = max((p for p in tokenizer_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    os.symlink((onnx_version / ONNX_FILENAME).resolve(), version / ONNX_FILENAME)
    os.symlink((tokenizer_version / TOKENIZER_FILENAME).resolve(), version / TOKENIZER_FILENAME)
    shutil.copyfile(tokenizer_version / TOKENIZER_ENCODING_FILENAME, version / TOKENIZER_ENCODING_FILENAME)
    shutil.copyfile(batching.__file__, version / BATCHING_FILENAME)
    shutil.copyfile(fused_text_model.__file__, version / "model.py")
    config = fused_config(read_config(onnx_dir), read_config(tokenizer_dir), name, batched)
    (target / "config.pbtxt").write_text(render(config))
    return name
