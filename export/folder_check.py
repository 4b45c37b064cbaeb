"""Refuse a model folder that cannot load before anything reads it: JSON files that do not parse, no weights."""

from __future__ import annotations

import json
from pathlib import Path

from export.errors import ModelFolderError

#: Weight files transformers loads, single or sharded (``*.index.json`` names the shards).
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def check_files(folder: Path, shown: str) -> None:
    """Raise unless every JSON file of ``folder`` parses and ``config.json`` is an object.

    Args:
        folder: The model folder.
        shown: How the user named it (messages quote this, not a resolved or cached path).

    Raises:
        ModelFolderError: A JSON file is corrupt, or ``config.json`` is not an object.
    """
    for path in sorted([*folder.glob("*.json"), *folder.glob("*/config.json")]):
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ModelFolderError(f"{path.relative_to(folder)} in '{shown}' is not UTF-8 text.") from None
        except json.JSONDecodeError as error:
            raise ModelFolderError(
                f"{path.relative_to(folder)} in '{shown}' is not valid JSON ({error.msg} at line {error.lineno}, "
                f"column {error.colno})."
            ) from None
        if path.name == "config.json" and path.parent == folder and not isinstance(value, dict):
            raise ModelFolderError(f"config.json in '{shown}' is not a JSON object.")


def check_weights(folder: Path, shown: str) -> None:
    """Raise unless ``folder`` holds weights transformers can load (see :func:`check_files` for the arguments).

    Raises:
        ModelFolderError: No weight file exists.
    """
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise ModelFolderError(
            f"Model folder '{shown}' has no weights: none of {', '.join(WEIGHT_FILES)} is there."
        )
