"""PyLate ColBERT folders: their settings, their Dense projections, and the head that returns token vectors.

A PyLate folder (``config_sentence_transformers.json`` with ``model_type: ColBERT``) is a Transformer module
followed by ``pylate.models.Dense.Dense`` projections; PyLate prefixes queries and documents with marker tokens,
pads queries with ``[MASK]`` to ``query_length`` (query expansion) and drops skip-list punctuation from documents.
The graph computes every position's normalised vector; which positions are returned is the vectors step's job
(:mod:`tritonize.repo_format.multi_vector`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from export.errors import UnsupportedModelError
from export.tasks.detection import ST_CONFIG_FILE, read_json

#: ``model_type`` of PyLate's folders in ``config_sentence_transformers.json``.
COLBERT_MODEL_TYPE = "ColBERT"
#: The architecture of Stanford ColBERT checkpoints (``colbert-ir/colbertv2.0``): the linear head in the model
#: file, settings in ``artifact.metadata``.
STANFORD_ARCHITECTURE = "HF_ColBERT"
STANFORD_METADATA = "artifact.metadata"
TRANSFORMER_MODULE = "Transformer"
DENSE_MODULE = "Dense"
IDENTITY = "torch.nn.modules.linear.Identity"


@dataclass(frozen=True)
class ColBertSettings:
    """What PyLate reads from the folder (its defaults where a key is absent).

    Attributes:
        query_prefix: Marker prepended to queries (an added token, ``[Q] ``).
        document_prefix: Marker prepended to documents (``[D] ``).
        query_length: Query tokens, marker included; queries are padded with ``[MASK]`` to it (expansion).
        document_length: Most document tokens, marker included.
        query_expansion: Pad queries to ``query_length`` and keep every position.
        skiplist_words: Tokens whose vectors documents drop (punctuation).
        dense_paths: Folders of the Dense projections, in order.
        stanford: A Stanford checkpoint: one ``linear.weight`` projection in the model file.
    """

    query_prefix: str = "[Q] "
    document_prefix: str = "[D] "
    query_length: int = 32
    document_length: int = 180
    query_expansion: bool = True
    skiplist_words: tuple[str, ...] = tuple(string.punctuation)
    dense_paths: tuple[str, ...] = ()
    stanford: bool = False


def is_colbert_folder(folder: Path) -> bool:
    """A folder PyLate saved (``model_type: ColBERT``), or a Stanford ColBERT checkpoint (``HF_ColBERT``)."""
    return read_json(folder / ST_CONFIG_FILE).get("model_type") == COLBERT_MODEL_TYPE or is_stanford_folder(folder)


def is_stanford_folder(folder: Path) -> bool:
    """A Stanford ColBERT checkpoint: ``HF_ColBERT`` in ``config.json`` architectures."""
    return STANFORD_ARCHITECTURE in (read_json(folder / "config.json").get("architectures") or [])


def read_stanford(folder: Path) -> ColBertSettings:
    """A Stanford checkpoint's settings, as PyLate reads them: ``artifact.metadata``, else its defaults.

    Raises:
        UnsupportedModelError: Queries attend to their expansion tokens.
    """
    metadata = read_json(folder / STANFORD_METADATA)
    if metadata.get("attend_to_mask_tokens"):
        raise UnsupportedModelError("ColBERT queries that attend to their expansion tokens "
                                    "(attend_to_mask_tokens: true) are not exported yet.")
    defaults = ColBertSettings()
    return ColBertSettings(
        query_prefix=metadata.get("query_token_id") or "[unused0]",
        document_prefix=metadata.get("doc_token_id") or "[unused1]",
        query_length=int(metadata.get("query_maxlen") or defaults.query_length),
        document_length=int(metadata.get("doc_maxlen") or defaults.document_length),
        stanford=True,
    )


def read_colbert(folder: Path) -> ColBertSettings:
    """The folder's ColBERT settings.

    Raises:
        UnsupportedModelError: Modules other than a Transformer at the root and Dense projections, or query
            expansion tokens that are attended to.
    """
    if is_stanford_folder(folder):
        return read_stanford(folder)
    config = read_json(folder / ST_CONFIG_FILE)
    modules = read_json(folder / "modules.json") if (folder / "modules.json").is_file() else []
    kinds = [module.get("type", "").rsplit(".", 1)[-1] for module in modules]
    if not kinds or kinds[0] != TRANSFORMER_MODULE or modules[0].get("path", "") not in ("", ".") or any(
            kind != DENSE_MODULE for kind in kinds[1:]):
        raise UnsupportedModelError(f"Unsupported ColBERT modules: {', '.join(kinds) or 'none'} (supported: a "
                                    f"Transformer at the folder's root followed by Dense projections).")
    if config.get("attend_to_expansion_tokens"):
        raise UnsupportedModelError("ColBERT queries that attend to their expansion tokens "
                                    "(attend_to_expansion_tokens: true) are not exported yet.")
    defaults = ColBertSettings()
    prefixes = [config.get(key) for key in ("query_prefix", "document_prefix")]
    if not all(prefixes):
        raise UnsupportedModelError("ColBERT folders without query and document prefixes are not exported yet.")
    return ColBertSettings(
        query_prefix=prefixes[0], document_prefix=prefixes[1],
        query_length=int(config.get("query_length") or defaults.query_length),
        document_length=int(config.get("document_length") or defaults.document_length),
        query_expansion=config.get("do_query_expansion", True) is not False,
        skiplist_words=tuple(config.get("skiplist_words") or defaults.skiplist_words),
        dense_paths=tuple(module["path"] for module in modules[1:]),
    )


def load_projections(folder: Path, settings: ColBertSettings) -> list[nn.Linear]:
    """The Dense projections as linear layers, weights from each module's folder.

    Raises:
        UnsupportedModelError: A projection with an activation or a residual connection.
    """
    from safetensors.torch import load_file

    if settings.stanford:
        weights_file = folder / "model.safetensors"
        state = load_file(str(weights_file)) if weights_file.is_file() else torch.load(
            folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        weight = state["linear.weight"]
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        layer.load_state_dict({"weight": weight})
        return [layer.eval()]
    layers = []
    for path in settings.dense_paths:
        config = read_json(folder / path / "config.json")
        if config.get("activation_function", IDENTITY) != IDENTITY or config.get("use_residual"):
            raise UnsupportedModelError(f"Unsupported ColBERT Dense module in {path}: only linear projections "
                                        f"(identity activation, no residual) are exported.")
        weights_file = folder / path / "model.safetensors"
        state = load_file(str(weights_file)) if weights_file.is_file() else torch.load(
            folder / path / "pytorch_model.bin", map_location="cpu", weights_only=True)
        layer = nn.Linear(int(config["in_features"]), int(config["out_features"]), bias=bool(config.get("bias")))
        layer.load_state_dict({key.removeprefix("linear."): value for key, value in state.items()})
        layers.append(layer.eval())
    return layers


class ColBertHead(nn.Module):
    """Transformer → Dense projections → per-token L2 normalisation: ``token_vectors [batch, seq, dim]``."""

    def __init__(self, model: nn.Module, projections: list[nn.Linear], takes_token_types: bool) -> None:
        super().__init__()
        self.model = model
        self.projections = nn.ModuleList(projections)
        self.takes_token_types = takes_token_types

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Return every position's normalised vector."""
        kwargs = {"token_type_ids": token_type_ids} if self.takes_token_types and token_type_ids is not None else {}
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        for projection in self.projections:
            hidden = projection(hidden)
        return nn.functional.normalize(hidden, p=2.0, dim=-1)
