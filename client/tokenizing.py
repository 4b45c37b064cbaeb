"""Client-side tokenization for token-tensor models, with the exported tokenizer model's own settings."""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf import text_format
from tokenizers import Tokenizer
from tritonclient.grpc import model_config_pb2 as mc

from client.errors import UsageProblem
from export.backends.tokenizer_model import TOKENIZER_FILE, TextEncoder
from export.signature import TOKEN_INPUT_NAMES

CONFIG_FILE = "config.pbtxt"
#: Settings used when neither a tokenizer model's config nor tokenizer.json states them.
DEFAULT_MAX_LENGTH = 512
DEFAULT_PAD_TO_MULTIPLE_OF = 8


def load_encoder(path: Path) -> TextEncoder:
    """A :class:`TextEncoder` from a ``tokenizer.json`` or an exported ``NAME_tokenizer`` model folder.

    For a model folder (or a ``tokenizer.json`` inside one), ``max_length``, ``pad_to_multiple_of`` and
    ``pad_token_id`` come from its ``config.pbtxt`` parameters, so tokens match what the server would send;
    otherwise from the truncation and padding settings in ``tokenizer.json``.

    Raises:
        UsageProblem: No ``tokenizer.json`` at ``path``, or it or the config cannot be read.
    """
    tokenizer_file, config_file = _locate(path)
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception as error:  # noqa: BLE001 - tokenizers raises plain Exceptions
        raise UsageProblem(f"Cannot load tokenizer {tokenizer_file}: {error}") from None
    settings = {key: str(value) for key, value in _settings_from_tokenizer(tokenizer).items()}
    if config_file is not None:
        settings.update(_settings_from_config(config_file))
    try:
        return TextEncoder.from_parameters(tokenizer, list(TOKEN_INPUT_NAMES), settings)
    except ValueError as error:
        raise UsageProblem(f"Cannot read tokenizer settings from {config_file}: {error}") from None


def _locate(path: Path) -> tuple[Path, Path | None]:
    """``tokenizer.json`` and, when it lies in a model folder, that folder's ``config.pbtxt``."""
    if path.is_dir():
        versions = sorted((p for p in path.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
        candidates = [path / TOKENIZER_FILE, *(v / TOKENIZER_FILE for v in reversed(versions))]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise UsageProblem(f"No {TOKENIZER_FILE} in {path} or its version folders")
        config = path / CONFIG_FILE
        return found, config if config.is_file() else None
    if not path.is_file():
        raise UsageProblem(f"Tokenizer {path} does not exist")
    config = next((c for c in (path.parent / CONFIG_FILE, path.parent.parent / CONFIG_FILE) if c.is_file()), None)
    return path, config


def _settings_from_config(config_file: Path) -> dict[str, str]:
    """The tokenizer model's parameters (limits, padding and truncation side, prompts), as Triton stores them."""
    try:
        config = text_format.Parse(config_file.read_text(encoding="utf-8"), mc.ModelConfig())
        parameters = {key: value.string_value for key, value in config.parameters.items()}
        for key in ("max_length", "pad_to_multiple_of", "pad_token_id"):
            if key in parameters:
                int(parameters[key])
        return parameters
    except (OSError, ValueError, text_format.ParseError) as error:
        raise UsageProblem(f"Cannot read tokenizer settings from {config_file}: {error}") from None


def _settings_from_tokenizer(tokenizer: Tokenizer) -> dict[str, int]:
    raw = json.loads(tokenizer.to_str())
    truncation = raw.get("truncation") or {}
    padding = raw.get("padding") or {}
    pad_id = padding.get("pad_id")
    if pad_id is None:
        pad_id = next((tokenizer.token_to_id(t) for t in ("[PAD]", "<pad>") if tokenizer.token_to_id(t) is not None), 0)
    return {
        "max_length": int(truncation.get("max_length") or DEFAULT_MAX_LENGTH),
        "pad_to_multiple_of": int(padding.get("pad_to_multiple_of") or DEFAULT_PAD_TO_MULTIPLE_OF),
        "pad_token_id": int(pad_id),
    }
