"""Read and write ``config.pbtxt`` as Triton's own ``ModelConfig`` protobuf."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tritonize.repo_format.files import CONFIG_FILENAME

ParseError = text_format.ParseError


def parse(text: str) -> mc.ModelConfig:
    """Parse ``config.pbtxt`` text.

    Raises:
        ParseError: The text is not a valid ``ModelConfig``.
    """
    return text_format.Parse(text, mc.ModelConfig())


def render(config: mc.ModelConfig) -> str:
    """Render as ``config.pbtxt`` text; ``max_batch_size: 0`` is written although it is the protobuf default.

    Without it Triton would assume a non-zero default batch size for a model that does not batch.
    """
    text = text_format.MessageToString(config)
    if config.max_batch_size == 0:
        text += "max_batch_size: 0\n"
    return text


def read_config(model_dir: Path) -> mc.ModelConfig:
    """Parse ``model_dir/config.pbtxt``.

    Raises:
        OSError: It cannot be read.
        ParseError: It is not a valid ``ModelConfig``.
    """
    return parse((model_dir / CONFIG_FILENAME).read_text(encoding="utf-8"))
