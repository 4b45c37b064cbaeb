"""The one way to build a :class:`TextEncoder` from an exported tokenizer model folder."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer
from tritonclient.grpc import model_config_pb2 as mc

from tritonize.errors import TritonizeError
from tritonize.repo_format.files import TOKENIZER_FILENAME, version_folders
from tritonize.repo_format.pbtxt import ParseError, read_config
from tritonize.repo_format.platforms import ONE_STEP, SERVING_KEY
from tritonize.repo_format.tokenizer_encoding import TOKEN_NAMES, TextEncoder, TokenizerParameters


class TokenizerFolderError(TritonizeError):
    """A tokenizer model folder that cannot be read (no ``tokenizer.json``, a config without its parameters)."""


def tokenizer_parameters(config: mc.ModelConfig) -> TokenizerParameters:
    """The tokenizer model's parameters from its config.

    Raises:
        KeyError: A parameter is missing.
        ValueError: A value is not an integer.
    """
    return TokenizerParameters.from_strings({key: value.string_value for key, value in config.parameters.items()})


def is_one_step(config: mc.ModelConfig) -> bool:
    """The model tokenizes and runs the model in one step (``python -m export --serving one-step``)."""
    return SERVING_KEY in config.parameters and config.parameters[SERVING_KEY].string_value == ONE_STEP


def newest_tokenizer_file(model_dir: Path) -> Path | None:
    """``tokenizer.json`` of the folder itself or of its newest version folder that has one."""
    folders = [model_dir, *reversed(version_folders(model_dir))]
    candidates = [folder / TOKENIZER_FILENAME for folder in folders]
    return next((c for c in candidates if c.is_file()), None)


def load_tokenizer_model(model_dir: Path) -> TextEncoder:
    """The encoder the tokenizer model in ``model_dir`` serves with.

    Its config's outputs and parameters, its newest version's ``tokenizer.json``. A one-step model's folder
    (tokenizer inside) gives the encoder it tokenizes with, producing every token tensor.

    Raises:
        TokenizerFolderError: The folder lacks a readable config, its parameters or a ``tokenizer.json``.
    """
    try:
        config = read_config(model_dir)
        parameters = tokenizer_parameters(config)
    except (OSError, ValueError, KeyError, ParseError) as error:
        raise TokenizerFolderError(f"Cannot read tokenizer settings from {model_dir}: {error}") from None
    tokenizer_file = newest_tokenizer_file(model_dir)
    if tokenizer_file is None:
        raise TokenizerFolderError(f"No {TOKENIZER_FILENAME} in {model_dir} or its version folders")
    outputs = list(TOKEN_NAMES) if is_one_step(config) else [o.name for o in config.output]
    return TextEncoder.with_parameters(Tokenizer.from_file(str(tokenizer_file)), outputs, parameters)
