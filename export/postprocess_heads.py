"""PyTorch modules that fold post-processing (pooling, Dense, normalisation, softmax) into the exported graph.

A sentence-embedding head is a list of steps built from the folder's ``modules.json``, one per module, each
reading and writing a features dict the way sentence-transformers' modules do; the Transformer module's
model is the backbone. New module kinds are one more entry in :data:`STEP_BUILDERS`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from export.errors import UnsupportedModelError
from export.load_model import LoadedModel
from export.signature import Task
from export.st_modules import Pooling, StModule
from export.tasks.rerank_sparse_heads import task_head

Features = dict[str, torch.Tensor]


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """Reduce token states ``[batch, seq, hidden]`` to sentence embeddings, as sentence-transformers pools.

    Works for left and right padding: ``cls`` takes the first real token, ``lasttoken`` the last one.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    flat_mask = attention_mask.to(hidden.dtype)
    positions = torch.cumsum(torch.ones_like(flat_mask), dim=1)  # 1 … seq, traced with a dynamic length
    outputs = []
    for mode in pooling.modes:
        if mode == "cls":
            first = flat_mask.argmax(dim=1)
            outputs.append(_gather(hidden, first))
        elif mode == "lasttoken":
            last = (flat_mask * positions).argmax(dim=1)
            outputs.append(_gather(hidden, last))
        elif mode == "max":
            outputs.append(hidden.masked_fill(mask == 0, float("-inf")).max(dim=1).values)
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            count = mask.sum(dim=1).clamp(min=1e-9)
            total = (hidden * mask).sum(dim=1)
            outputs.append(total / count if mode == "mean" else total / torch.sqrt(count))
        elif mode == "weightedmean":
            left_pads = flat_mask.argmax(dim=1, keepdim=True)
            weights = (mask.squeeze(-1) * (positions - left_pads)).unsqueeze(-1)
            outputs.append((hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9))
        else:  # read_pooling_config refuses other modes
            raise UnsupportedModelError(f"Unsupported pooling mode '{mode}'.")
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)


def _gather(hidden: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Row ``index[b]`` of each ``hidden[b]``."""
    gather_index = index.view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
    return torch.gather(hidden, 1, gather_index).squeeze(1)


class Backbone(nn.Module):
    """The transformer: token tensors → ``token_embeddings`` (last hidden state), without KV cache."""

    def __init__(self, model: nn.Module, takes_token_types: bool, takes_use_cache: bool) -> None:
        super().__init__()
        self.model = model
        self.takes_token_types = takes_token_types
        self.takes_use_cache = takes_use_cache

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Return the last hidden state ``[batch, seq, hidden]``."""
        kwargs: dict = {"use_cache": False} if self.takes_use_cache else {}
        if self.takes_token_types and token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state


class PoolingStep(nn.Module):
    """``Pooling``: token_embeddings → sentence_embedding."""

    def __init__(self, pooling: Pooling) -> None:
        super().__init__()
        self.pooling = pooling

    def forward(self, features: Features) -> Features:
        """Pool over the real tokens."""
        features["sentence_embedding"] = pool(features["token_embeddings"], features["attention_mask"], self.pooling)
        return features


class DenseStep(nn.Module):
    """``Dense``: linear layer, its activation and optional residual, on the module's input key."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.linear = module.linear
        self.activation = module.activation_function
        self.residual = getattr(module, "residual", None)
        self.use_residual = bool(getattr(module, "use_residual", False))
        self.input_name = getattr(module, "module_input_name", "sentence_embedding")
        self.output_name = getattr(module, "module_output_name", None) or self.input_name

    def forward(self, features: Features) -> Features:
        """Project (and activate) the input."""
        x = features[self.input_name]
        out = self.activation(self.linear(x))
        if self.use_residual:
            out = out + (x if self.residual is None else self.residual(x))
        features[self.output_name] = out
        return features


class LayerNormStep(nn.Module):
    """``LayerNorm`` over the sentence embedding."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.norm = module.norm

    def forward(self, features: Features) -> Features:
        """Normalise the sentence embedding's features."""
        features["sentence_embedding"] = self.norm(features["sentence_embedding"])
        return features


class NormalizeStep(nn.Module):
    """``Normalize``: unit L2 norm."""

    def forward(self, features: Features) -> Features:
        """L2-normalise the sentence embedding."""
        features["sentence_embedding"] = nn.functional.normalize(features["sentence_embedding"], p=2.0, dim=-1)
        return features


#: modules.json kind → builder of its step from the loaded sentence-transformers module.
STEP_BUILDERS: dict[str, Callable[[StModule, nn.Module], nn.Module]] = {
    "Pooling": lambda spec, module: PoolingStep(spec.pooling),
    "Dense": lambda spec, module: DenseStep(module),
    "LayerNorm": lambda spec, module: LayerNormStep(module),
    "Normalize": lambda spec, module: NormalizeStep(),
}


class FeatureExtractionHead(nn.Module):
    """Backbone → module steps → sentence embeddings, truncated (Matryoshka) and renormalised when asked."""

    def __init__(self, backbone: Backbone, steps: list[nn.Module], truncate_dim: int | None,
                 normalize: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.steps = nn.ModuleList(steps)
        self.truncate_dim = truncate_dim
        self.normalize = normalize

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``embeddings [batch, dim]``."""
        features: Features = {
            "token_embeddings": self.backbone(input_ids, attention_mask, token_type_ids),
            "attention_mask": attention_mask,
        }
        for step in self.steps:
            features = step(features)
        embeddings = features["sentence_embedding"]
        if self.truncate_dim is not None:
            embeddings = embeddings[:, : self.truncate_dim]
            if self.normalize:
                embeddings = nn.functional.normalize(embeddings, p=2.0, dim=-1)
        return embeddings


class ClassificationHead(nn.Module):
    """Classifier → ``(logits, probabilities)``: softmax, or sigmoid for multi-label and single-logit models.

    The same rule as transformers' text-classification pipeline (``function_to_apply``).
    """

    def __init__(self, model: nn.Module, sigmoid: bool, takes_token_types: bool) -> None:
        super().__init__()
        self.model = model
        self.sigmoid = sigmoid
        self.takes_token_types = takes_token_types

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``logits`` and ``probabilities`` (per sequence or per token)."""
        kwargs = {"token_type_ids": token_type_ids} if self.takes_token_types and token_type_ids is not None else {}
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        probabilities = torch.sigmoid(logits) if self.sigmoid else torch.softmax(logits, dim=-1)
        return logits, probabilities


def uses_sigmoid(loaded: LoadedModel) -> bool:
    """Probabilities are per-label sigmoids: multi-label models and models with one logit."""
    return loaded.info.multi_label or len(loaded.info.labels) == 1


def build_head(loaded: LoadedModel) -> nn.Module:
    """The exportable module for the loaded model's task, in eval mode."""
    info = loaded.info
    if info.task in (Task.TEXT_RANKING, Task.SPARSE_EMBEDDING):
        return task_head(loaded).eval()
    takes_token_types = "token_type_ids" in loaded.signature.input_names
    if info.task is not Task.FEATURE_EXTRACTION:
        return ClassificationHead(loaded.model, uses_sigmoid(loaded), takes_token_types).eval()
    import inspect

    takes_use_cache = "use_cache" in inspect.signature(loaded.model.forward).parameters
    backbone = Backbone(loaded.model, takes_token_types, takes_use_cache)
    if info.st_folder is not None:
        modules = list(loaded.reference)
        steps = [STEP_BUILDERS[spec.kind](spec, module)
                 for spec, module in zip(info.st_folder.modules, modules) if spec.kind != "Transformer"]
        normalize = any(spec.kind == "Normalize" for spec in info.st_folder.modules)
    else:
        steps, normalize = [PoolingStep(info.pooling)], False
    return FeatureExtractionHead(backbone, steps, loaded.truncate_dim, normalize).eval()


def run_head(head: nn.Module, arrays: dict, input_names: list[str]) -> list:
    """Run ``head`` eagerly on numpy inputs; return numpy outputs in signature order."""
    tensors = [torch.from_numpy(arrays[name]) for name in input_names]
    with torch.inference_mode():
        outputs = head(*tensors)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return [output.numpy() for output in outputs]
