"""PyTorch modules that fold post-processing (pooling, normalisation, softmax) into the exported graph."""

from __future__ import annotations

import torch
from torch import nn

from export.load import LoadedModel, Pooling
from export.signature import Task
from export.tasks.heads import task_head


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """Reduce token states ``[batch, seq, hidden]`` to sentence embeddings ``[batch, hidden]``."""
    if pooling.mode == "cls":
        pooled = hidden[:, 0]
    else:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        if pooling.mode == "max":
            pooled = hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
        else:
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return nn.functional.normalize(pooled, p=2.0, dim=-1) if pooling.normalize else pooled


class FeatureExtractionHead(nn.Module):
    """Encoder → pooled (and optionally normalised) sentence embeddings."""

    def __init__(self, model: nn.Module, pooling: Pooling) -> None:
        super().__init__()
        self.model = model
        self.pooling = pooling

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``embeddings [batch, hidden]``."""
        kwargs = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return pool(hidden, attention_mask, self.pooling)


class ClassificationHead(nn.Module):
    """Classifier → ``(logits, probabilities)``: softmax, or sigmoid for multi-label models."""

    def __init__(self, model: nn.Module, multi_label: bool) -> None:
        super().__init__()
        self.model = model
        self.multi_label = multi_label

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``logits`` and ``probabilities`` (per sequence or per token)."""
        kwargs = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        probabilities = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        return logits, probabilities


def build_head(loaded: LoadedModel) -> nn.Module:
    """The exportable module for the loaded model's task, in eval mode."""
    info = loaded.info
    if info.task is Task.FEATURE_EXTRACTION:
        head: nn.Module = FeatureExtractionHead(loaded.model, info.pooling)
    elif info.task in (Task.TEXT_RANKING, Task.SPARSE_EMBEDDING):
        head = task_head(loaded)
    else:
        head = ClassificationHead(loaded.model, info.multi_label)
    return head.eval()


def run_head(head: nn.Module, arrays: dict, input_names: list[str]) -> list:
    """Run ``head`` eagerly on numpy inputs; return numpy outputs in signature order."""
    tensors = [torch.from_numpy(arrays[name]) for name in input_names]
    with torch.inference_mode():
        outputs = head(*tensors)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return [output.numpy() for output in outputs]
