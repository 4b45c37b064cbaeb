"""The exportable module of a reranker or sparse encoder."""

from __future__ import annotations

from torch import nn

from export.load_model import LoadedModel
from export.signature import Task
from export.tasks.rerank import RankingHead, activation_path
from export.tasks.sparse import SpladeHead, read_splade


def task_head(loaded: LoadedModel) -> nn.Module:
    """The head for ``loaded``'s task (text ranking or sparse embedding)."""
    info = loaded.info
    if info.task is Task.TEXT_RANKING:
        num_labels = loaded.model.config.num_labels
        return RankingHead(loaded.model, activation_path(info.source.folder, num_labels), num_labels)
    return SpladeHead(loaded.model, loaded.signature.output("indices").dims[0], read_splade(info.source.folder))
