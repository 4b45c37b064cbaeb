"""Cross-encoder rerankers: the activation sentence-transformers applies, folded into the exported graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from export.errors import UnsupportedModelError
from export.tasks.detection import ST_CONFIG_FILE, read_json
from export.verify import VERIFICATION_BATCHES, VERIFICATION_TEXTS
from tritonize.repo_format.tokenizer_encoding import TextEncoder

#: Activations sentence-transformers loads from a folder without trusting remote code (``torch.*`` paths).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "torch.nn.modules.activation.Sigmoid": nn.Sigmoid,
    "torch.nn.modules.linear.Identity": nn.Identity,
    "torch.nn.modules.activation.Tanh": nn.Tanh,
    "torch.nn.modules.activation.ReLU": nn.ReLU,
}
SIGMOID, IDENTITY = "torch.nn.modules.activation.Sigmoid", "torch.nn.modules.linear.Identity"


def activation_path(folder: Path, num_labels: int) -> str:
    """The activation ``CrossEncoder(folder)`` applies to logits, as its dotted path.

    sentence-transformers reads ``activation_fn`` from ``config_sentence_transformers.json``, then from
    ``config.json`` (``sentence_transformers.activation_fn``, or ``sbert_ce_default_activation_function`` before
    v4), and otherwise uses sigmoid for one label and the identity for several.

    Raises:
        UnsupportedModelError: The folder names an activation we cannot put into the graph.
    """
    config = read_json(folder / "config.json")
    path = (read_json(folder / ST_CONFIG_FILE).get("activation_fn")
            or (config.get("sentence_transformers") or {}).get("activation_fn")
            or config.get("sbert_ce_default_activation_function"))
    if path and not path.startswith("torch."):
        path = None  # sentence-transformers ignores untrusted paths unless trust_remote_code is set.
    path = path or (SIGMOID if num_labels == 1 else IDENTITY)
    if path not in ACTIVATIONS:
        raise UnsupportedModelError(f"Unsupported cross-encoder activation '{path}': supported are "
                                    f"{', '.join(sorted(ACTIVATIONS))}.")
    return path


class RankingHead(nn.Module):
    """Sequence classifier over (query, passage) pairs → relevance scores.

    One label: ``scores [batch, 1]`` = activation(logit), as ``CrossEncoder.predict`` returns. Several labels
    (NLI-style pair classifiers): ``logits`` as ``predict`` returns them and ``scores``, their softmax over the
    labels (``predict(..., apply_softmax=True)``).
    """

    def __init__(self, model: nn.Module, activation: str, num_labels: int) -> None:
        super().__init__()
        self.model = model
        self.activation = ACTIVATIONS[activation]()
        self.single = num_labels == 1

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Return ``scores``, or ``(logits, scores)`` for several labels."""
        kwargs = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        logits = self.activation(self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits)
        if self.single:
            return logits
        return logits, torch.softmax(logits, dim=-1)


def verification_pairs() -> list[tuple[str, str]]:
    """(query, passage) pairs of the verification texts: each text with the next.

    The sides differ in length, and the longest pairs need truncation of the longer side.
    """
    texts = VERIFICATION_TEXTS
    return [(texts[i], texts[(i + 1) % len(texts)]) for i in range(len(texts))]


def pair_verification_inputs(encoder: TextEncoder) -> list[dict[str, np.ndarray]]:
    """Token batches of verification pairs, tokenized exactly as the served tokenizer model tokenizes pairs."""
    pairs = verification_pairs()
    batches = []
    for batch in VERIFICATION_BATCHES:
        chosen = [pairs[i] for i in batch]
        batches.append(encoder.encode_pairs([q for q, _ in chosen], [p for _, p in chosen]))
    return batches


def check_pair_tokenizer(tokenizer: object, encoder: TextEncoder, max_length: int) -> bool:
    """The served tokenizer makes the same tokens of each verification pair as transformers' ``tokenizer``."""
    for query, passage in verification_pairs():
        expected = tokenizer(query, passage, truncation="longest_first", max_length=max_length)["input_ids"]
        if encoder.tokenizer.encode(query, passage).ids != list(expected):
            return False
    return True
