"""BGE-M3-shaped folders: dense, sparse (lexical weights) and ColBERT vectors from one forward pass.

A BGE-M3 folder is an XLM-R encoder with ``colbert_linear.pt`` and ``sparse_linear.pt`` beside its weights.
FlagEmbedding's ``BGEM3FlagModel`` computes: the dense vector, the normalised ``[CLS]`` state; each token's
weight, ``relu(sparse_linear(state))``; ColBERT vectors, ``normalize(colbert_linear(state))`` of every token after
``[CLS]``. The graph returns all three; the M3 step keeps each text's real tokens and turns the weights into
lexical weights (the highest weight per token id, special tokens and zeros left out).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

COLBERT_LINEAR = "colbert_linear.pt"
SPARSE_LINEAR = "sparse_linear.pt"
#: The graph's outputs: dense vector, per-token weight, per-token ColBERT vector (positions after the first).
OUTPUT_NAMES = ("embeddings", "token_weights", "token_vectors")


def is_m3_folder(folder: Path) -> bool:
    """A folder with BGE-M3's ColBERT and sparse heads."""
    return (folder / COLBERT_LINEAR).is_file() and (folder / SPARSE_LINEAR).is_file()


def load_linear(path: Path) -> nn.Linear:
    """A linear head saved as a state dict (``weight``, ``bias``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    out_features, in_features = state["weight"].shape
    layer = nn.Linear(in_features, out_features, bias="bias" in state)
    layer.load_state_dict(state)
    return layer.eval()


def colbert_width(folder: Path) -> int:
    """Width of the ColBERT vectors."""
    return int(torch.load(folder / COLBERT_LINEAR, map_location="cpu", weights_only=True)["weight"].shape[0])


class M3Head(nn.Module):
    """XLM-R → ``embeddings [batch, hidden]``, ``token_weights [batch, seq]``, ``token_vectors [batch, seq-1, dim]``."""

    def __init__(self, model: nn.Module, folder: Path) -> None:
        super().__init__()
        self.model = model
        self.colbert = load_linear(folder / COLBERT_LINEAR)
        self.sparse = load_linear(folder / SPARSE_LINEAR)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the dense vector, each token's weight and each token's ColBERT vector (after ``[CLS]``)."""
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        dense = nn.functional.normalize(hidden[:, 0], p=2.0, dim=-1)
        weights = torch.relu(self.sparse(hidden)).squeeze(-1)
        vectors = self.colbert(hidden[:, 1:]) * attention_mask[:, 1:].unsqueeze(-1).to(hidden.dtype)
        return dense, weights, nn.functional.normalize(vectors, p=2.0, dim=-1)
