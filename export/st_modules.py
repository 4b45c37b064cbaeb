"""Read a sentence-transformers folder: its module list, pooling and prompts, before any weights load.

Every module in ``modules.json`` must be one the exported graph implements; any other fails the export with
the module's name, so nothing a folder declares is silently left out of the served model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from export.errors import UnsupportedModelError

PoolingMode = Literal["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]

#: Pooling modes the exported graph implements (sentence-transformers' ``Pooling.POOLING_MODES``).
POOLING_MODES: tuple[str, ...] = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")

#: Legacy boolean keys of a Pooling config → mode.
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}

#: Module kinds the exported graph implements, by the last part of their class name in ``modules.json``.
SUPPORTED_MODULES = ("Transformer", "Pooling", "Dense", "Normalize", "LayerNorm")

MODULES_FILE = "modules.json"
ST_CONFIG_FILE = "config_sentence_transformers.json"
BERT_CONFIG_FILE = "sentence_bert_config.json"


@dataclass(frozen=True)
class Pooling:
    """How token states become one sentence embedding (sentence-transformers' ``Pooling`` module).

    Attributes:
        modes: Pooling modes whose results are concatenated, in order (usually one).
        include_prompt: Prompt tokens take part in pooling; ``False`` excludes them as sentence-transformers does.
    """

    modes: tuple[str, ...] = ("mean",)
    include_prompt: bool = True

    @property
    def mode(self) -> str:
        """The first (usually only) mode."""
        return self.modes[0]


@dataclass(frozen=True)
class StModule:
    """One entry of ``modules.json``.

    Attributes:
        kind: ``Transformer``, ``Pooling``, ``Dense``, ``Normalize`` or ``LayerNorm``.
        path: Folder of the module's files, relative to the model folder.
        pooling: The pooling settings (``Pooling`` modules only).
    """

    kind: str
    path: str
    pooling: Pooling | None = None


@dataclass(frozen=True)
class Prompts:
    """Prompts of ``config_sentence_transformers.json``.

    Attributes:
        prompts: Prompt name → text prepended to every input.
        default_name: The prompt applied when a request names none; ``None`` applies no prompt.
    """

    prompts: dict[str, str] = field(default_factory=dict)
    default_name: str | None = None

    @property
    def default(self) -> str:
        """Text of the default prompt (empty when there is none)."""
        return self.prompts.get(self.default_name, "") if self.default_name else ""


@dataclass(frozen=True)
class StFolder:
    """What a sentence-transformers folder declares.

    Attributes:
        modules: The modules in order.
        prompts: Named prompts and the default.
        truncate_dim: Matryoshka dimension the folder truncates embeddings to, if any.
        max_seq_length: The Transformer module's token limit, if set.
    """

    modules: tuple[StModule, ...]
    prompts: Prompts
    truncate_dim: int | None
    max_seq_length: int | None

    @property
    def pooling(self) -> Pooling:
        """The Pooling module's settings."""
        return next(m.pooling for m in self.modules if m.pooling is not None)


def is_st_folder(folder: Path) -> bool:
    """The folder is a sentence-transformers model (has ``modules.json``)."""
    return (folder / MODULES_FILE).is_file()


def read_st_folder(folder: Path) -> StFolder:
    """Read ``modules.json``, the Pooling config and ``config_sentence_transformers.json``.

    Raises:
        UnsupportedModelError: A module, pooling mode or module order the exported graph does not implement.
    """
    entries = json.loads((folder / MODULES_FILE).read_text())
    modules = []
    for entry in sorted(entries, key=lambda e: int(e.get("idx", 0))):
        type_name = entry.get("type", "")
        kind = type_name.rsplit(".", 1)[-1]
        path = entry.get("path", "")
        if kind not in SUPPORTED_MODULES or not type_name.startswith("sentence_transformers."):
            raise UnsupportedModelError(
                f"Unsupported sentence-transformers module '{type_name}' ({path or 'model folder'}) in "
                f"{MODULES_FILE}: the exported graph implements {', '.join(SUPPORTED_MODULES)}. Nothing was written."
            )
        pooling = read_pooling_config(folder / path / "config.json") if kind == "Pooling" else None
        modules.append(StModule(kind, path, pooling))
    kinds = [m.kind for m in modules]
    if not kinds or kinds[0] != "Transformer" or kinds.count("Transformer") != 1 or kinds.count("Pooling") != 1:
        raise UnsupportedModelError(
            f"Unsupported module list in {MODULES_FILE} ({' → '.join(kinds)}): the exported graph needs one "
            f"Transformer first and one Pooling. Nothing was written."
        )
    st_config = _read_json(folder / ST_CONFIG_FILE)
    prompts = Prompts(dict(st_config.get("prompts") or {}), st_config.get("default_prompt_name") or None)
    if prompts.default_name is not None and prompts.default_name not in prompts.prompts:
        raise UnsupportedModelError(
            f"default_prompt_name '{prompts.default_name}' in {ST_CONFIG_FILE} is not among its prompts "
            f"({', '.join(prompts.prompts) or 'none'})."
        )
    transformer_path = folder / modules[0].path
    max_seq_length = _read_json(transformer_path / BERT_CONFIG_FILE).get("max_seq_length")
    return StFolder(tuple(modules), prompts, st_config.get("truncate_dim"), max_seq_length)


def read_pooling_config(config_file: Path) -> Pooling:
    """A Pooling module's settings, from the current (``pooling_mode``) or the legacy boolean keys."""
    config = _read_json(config_file)
    mode = config.get("pooling_mode")
    if mode is None:
        legacy = tuple(m for key, m in _LEGACY_POOLING_KEYS.items() if config.get(key))
        modes = legacy or ("mean",)
    else:
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
    unknown = [m for m in modes if m not in POOLING_MODES]
    if unknown:
        raise UnsupportedModelError(
            f"Unsupported pooling mode '{unknown[0]}' in {config_file}: supported are {', '.join(POOLING_MODES)}."
        )
    return Pooling(modes, bool(config.get("include_prompt", True)))


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}
