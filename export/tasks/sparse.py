"""SPLADE sparse embeddings: max (or sum) pooling of log(1 + relu(MLM logits)) in the graph, top-k per text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tritonclient.grpc import model_config_pb2 as mc

from export.errors import UnsupportedModelError
from export.signature import Signature, TensorSpec
from export.tasks.detection import read_json

#: Module types of a sparse-encoder folder that the export reproduces.
TRANSFORMER_MODULES = ("Transformer", "MLMTransformer")
POOLING_MODULE = "SpladePooling"
#: The dense view of the kept (index, weight) pairs that verification compares.
DENSE_CHECK = "sparse_embedding"


@dataclass(frozen=True)
class Splade:
    """How MLM logits become one sparse vector (sentence-transformers' ``SpladePooling``).

    Attributes:
        pooling: ``max`` (SPLADE v2 and later) or ``sum`` over tokens.
        activation: ``relu`` (log(1 + relu(x))), or ``log1p_relu`` (log applied twice).
    """

    pooling: str = "max"
    activation: str = "relu"


def read_splade(folder: Path) -> Splade:
    """The pooling of a sentence-transformers SparseEncoder folder; SPLADE's max + relu for a plain MLM folder.

    Raises:
        UnsupportedModelError: The folder has modules the export does not reproduce, or unknown settings.
    """
    modules = read_json(folder / "modules.json") if (folder / "modules.json").is_file() else []
    kinds = [module.get("type", "").rsplit(".", 1)[-1] for module in modules]
    unknown = [kind for kind in kinds if kind not in (*TRANSFORMER_MODULES, POOLING_MODULE)]
    if unknown:
        raise UnsupportedModelError(f"Unsupported sparse-encoder modules: {', '.join(unknown)} (supported: an MLM "
                                    f"transformer followed by SpladePooling).")
    pooling = next((m for m, kind in zip(modules, kinds) if kind == POOLING_MODULE), None)
    config = read_json(folder / pooling["path"] / "config.json") if pooling else {}
    splade = Splade(config.get("pooling_strategy", "max"), config.get("activation_function", "relu"))
    if splade.pooling not in ("max", "sum") or splade.activation not in ("relu", "log1p_relu"):
        raise UnsupportedModelError(f"Unsupported SpladePooling settings {config}: pooling max or sum, activation "
                                    f"relu or log1p_relu.")
    return splade


class SpladeHead(nn.Module):
    """Masked LM → the ``top_k`` largest SPLADE weights per text, as ``indices`` and ``weights``.

    Weights come highest first; where a text has fewer than ``top_k`` non-zero weights, the rest are 0 with
    index -1.
    """

    def __init__(self, model: nn.Module, top_k: int, splade: Splade) -> None:
        super().__init__()
        self.model = model
        self.top_k = top_k
        self.splade = splade

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``indices [batch, top_k]`` (int64) and ``weights [batch, top_k]``."""
        kwargs = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        values = torch.log1p(torch.relu(logits * attention_mask.unsqueeze(-1).to(logits.dtype)))
        if self.splade.activation == "log1p_relu":
            values = torch.log1p(values)
        pooled = values.max(dim=1).values if self.splade.pooling == "max" else values.sum(dim=1)
        weights, indices = torch.topk(pooled, self.top_k, dim=-1)
        return torch.where(weights > 0, indices, torch.full_like(indices, -1)), weights


def dense_view(signature: Signature, vocab_size: int) -> tuple[Signature, Callable[[list], list]]:
    """A signature and converter that turn (indices, weights) into dense vectors, for verification.

    Comparing dense vectors does not depend on the order of equal weights, which runtimes may break differently.
    """
    spec = TensorSpec(DENSE_CHECK, mc.TYPE_FP32, (vocab_size,))
    view = Signature(task=signature.task, inputs=signature.inputs, outputs=(spec,))

    def densify(outputs: list[np.ndarray]) -> list[np.ndarray]:
        indices, weights = np.asarray(outputs[0]).astype(np.int64), outputs[1]
        dense = np.zeros((indices.shape[0], vocab_size + 1), dtype=np.float32)
        np.put_along_axis(dense, np.where(indices < 0, vocab_size, indices), weights, axis=1)
        return [dense[:, :vocab_size]]

    return view, densify
