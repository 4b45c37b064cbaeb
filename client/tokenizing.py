"""Client-side tokenization for token-tensor models, with the exported tokenizer model's own settings."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer

from client.errors import UsageProblem
from tritonize.contract import TOKEN_INPUT_NAMES
from tritonize.repo_format.files import CONFIG_FILENAME, TOKENIZER_FILENAME
from tritonize.repo_format.pbtxt import ParseError, read_config
from tritonize.repo_format.tokenizer_encoding import TextEncoder, TokenizerParameters
from tritonize.repo_format.tokenizer_folder import newest_tokenizer_file, tokenizer_parameters

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
    tokenizer_file, model_dir = _locate(path)
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception as error:  # noqa: BLE001 - tokenizers raises plain Exceptions
        raise UsageProblem(f"Cannot load tokenizer {tokenizer_file}: {error}") from None
    parameters = _parameters_from_tokenizer(tokenizer) if model_dir is None else _parameters_from_config(model_dir)
    return TextEncoder.with_parameters(tokenizer, list(TOKEN_INPUT_NAMES), parameters)


def _locate(path: Path) -> tuple[Path, Path | None]:
    """``tokenizer.json`` and, when it lies in a model folder with a ``config.pbtxt``, that folder."""
    if path.is_dir():
        found = newest_tokenizer_file(path)
        if found is None:
            raise UsageProblem(f"No {TOKENIZER_FILENAME} in {path} or its version folders")
        return found, path if (path / CONFIG_FILENAME).is_file() else None
    if not path.is_file():
        raise UsageProblem(f"Tokenizer {path} does not exist")
    model_dir = next((d for d in (path.parent, path.parent.parent) if (d / CONFIG_FILENAME).is_file()), None)
    return path, model_dir


def _parameters_from_config(model_dir: Path) -> TokenizerParameters:
    try:
        return tokenizer_parameters(read_config(model_dir))
    except (OSError, ValueError, KeyError, ParseError) as error:
        raise UsageProblem(f"Cannot read tokenizer settings from {model_dir / CONFIG_FILENAME}: {error}") from None


def _parameters_from_tokenizer(tokenizer: Tokenizer) -> TokenizerParameters:
    raw = json.loads(tokenizer.to_str())
    truncation = raw.get("truncation") or {}
    padding = raw.get("padding") or {}
    pad_id = padding.get("pad_id")
    if pad_id is None:
        pad_id = next((tokenizer.token_to_id(t) for t in ("[PAD]", "<pad>") if tokenizer.token_to_id(t) is not None), 0)
    return TokenizerParameters(int(truncation.get("max_length") or DEFAULT_MAX_LENGTH),
                               int(padding.get("pad_to_multiple_of") or DEFAULT_PAD_TO_MULTIPLE_OF), int(pad_id),
                               str(padding.get("direction") or "right").lower(),
                               str(truncation.get("direction") or "right").lower())
