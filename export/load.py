"""Load a model folder: detect its task and pooling, and build the PyTorch model and tokenizer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from export.errors import UnsupportedModelError
from export.signature import TOKEN_INPUT_NAMES, Signature, Task
from export.source import ModelSource
from export.tasks.detection import alternative_tasks, detect_special_task

PoolingMode = Literal["mean", "cls", "max"]

#: Encoder families whose export is verified; others fail with this list.
SUPPORTED_MODEL_TYPES = (
    "albert", "bert", "camembert", "deberta", "deberta-v2", "distilbert", "electra", "mpnet", "roberta",
    "xlm-roberta",
)

#: Architecture suffix → task.
HEAD_TASKS = {
    "ForSequenceClassification": Task.TEXT_CLASSIFICATION,
    "ForTokenClassification": Task.TOKEN_CLASSIFICATION,
    "Model": Task.FEATURE_EXTRACTION,
}

#: Position ids in these families start after the padding index, so fewer tokens fit.
_POSITION_OFFSET_TYPES = ("roberta", "xlm-roberta", "camembert")


@dataclass(frozen=True)
class Pooling:
    """How token states become one sentence embedding.

    Attributes:
        mode: ``mean`` over real tokens, the ``cls`` token, or ``max`` over real tokens.
        normalize: L2-normalise the embedding.
    """

    mode: PoolingMode = "mean"
    normalize: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """What the folder says about a model, read before any weights load.

    Attributes:
        source: Where the model lives.
        task: What the export will return.
        model_type: The Hugging Face model family.
        pooling: Sentence-embedding pooling (feature extraction only).
        labels: Class names in index order (classification tasks).
        multi_label: Classes are independent (sigmoid) rather than exclusive (softmax).
    """

    source: ModelSource
    task: Task
    model_type: str
    pooling: Pooling
    labels: tuple[str, ...]
    multi_label: bool


@dataclass
class LoadedModel:
    """A model ready for export: PyTorch model, tokenizer and the signature derived from both."""

    info: ModelInfo
    model: object  # transformers.PreTrainedModel
    tokenizer: object  # transformers.PreTrainedTokenizerFast
    signature: Signature
    max_length: int
    pad_token_id: int


def read_info(source: ModelSource, task: Task | None = None) -> ModelInfo:
    """Read task, pooling and labels from the folder's files (``--task`` overrides the detected task).

    Raises:
        UnsupportedModelError: The family, architecture or task cannot be exported.
    """
    config = json.loads((source.folder / "config.json").read_text())
    model_type = config.get("model_type", "")
    architectures = config.get("architectures") or []
    detected = detect_task(architectures, source.folder)
    if model_type not in SUPPORTED_MODEL_TYPES:
        arch = architectures[0] if architectures else "unknown"
        raise UnsupportedModelError(
            f"Unsupported architecture '{arch}' (model_type '{model_type}'). "
            f"Supported model types: {', '.join(SUPPORTED_MODEL_TYPES)}."
        )
    alternatives = alternative_tasks(architectures, detected)
    if detected is None and task not in alternatives:
        raise UnsupportedModelError(
            f"Unsupported architecture '{architectures[0] if architectures else 'unknown'}': "
            f"supported heads are *Model / sentence-transformers (feature-extraction), "
            f"*ForSequenceClassification (text-classification), *ForTokenClassification (token-classification)."
        )
    chosen = task or detected
    if chosen is not Task.FEATURE_EXTRACTION and chosen is not detected and chosen not in alternatives:
        raise UnsupportedModelError(
            f"Task '{chosen.value}' needs a model with that head, but this model is '{detected.value}'. "
            f"Supported tasks here: "
            f"{', '.join(sorted({detected.value, Task.FEATURE_EXTRACTION.value, *(t.value for t in alternatives)}))}."
        )
    id2label = config.get("id2label") or {}
    labelled = chosen not in (Task.FEATURE_EXTRACTION, Task.SPARSE_EMBEDDING)
    labels = tuple(id2label[key] for key in sorted(id2label, key=int)) if labelled else ()
    return ModelInfo(
        source=source,
        task=chosen,
        model_type=model_type,
        pooling=read_pooling(source.folder),
        labels=labels,
        multi_label=config.get("problem_type") == "multi_label_classification",
    )


def detect_task(architectures: list[str], folder: Path) -> Task | None:
    """The task a folder was trained for, or ``None`` when its head is not one we export."""
    special = detect_special_task(folder, architectures)
    if special is not None:
        return special
    if (folder / "modules.json").is_file() or (folder / "1_Pooling" / "config.json").is_file():
        return Task.FEATURE_EXTRACTION
    for architecture in architectures:
        for suffix, task in HEAD_TASKS.items():
            if architecture.endswith(suffix):
                return task
    return None if architectures else Task.FEATURE_EXTRACTION


def read_pooling(folder: Path) -> Pooling:
    """Pooling from a sentence-transformers folder (modules.json, Pooling config); mean otherwise."""
    modules_file = folder / "modules.json"
    modules = json.loads(modules_file.read_text()) if modules_file.is_file() else []
    normalize = any(module.get("type", "").endswith(".Normalize") for module in modules)
    pooling_paths = [m.get("path", "") for m in modules if m.get("type", "").endswith(".Pooling")] or ["1_Pooling"]
    config_file = folder / pooling_paths[0] / "config.json"
    if not config_file.is_file():
        return Pooling("mean", normalize)
    config = json.loads(config_file.read_text())
    if config.get("pooling_mode_cls_token"):
        return Pooling("cls", normalize)
    if config.get("pooling_mode_max_tokens"):
        return Pooling("max", normalize)
    if config.get("pooling_mode_mean_tokens", True):
        return Pooling("mean", normalize)
    raise UnsupportedModelError(f"Unsupported pooling in {config_file}: supported modes are mean, cls and max.")


def load_model(info: ModelInfo, trust_remote_code: bool = False, sparse_top_k: int = 0) -> LoadedModel:
    """Load weights (safetensors when present) and the fast tokenizer, in eval mode on the CPU.

    ``sparse_top_k`` is the number of (index, weight) pairs a sparse embedding keeps (capped at the vocabulary).
    """
    import torch
    import transformers

    model_class = {
        Task.FEATURE_EXTRACTION: transformers.AutoModel,
        Task.TEXT_CLASSIFICATION: transformers.AutoModelForSequenceClassification,
        Task.TOKEN_CLASSIFICATION: transformers.AutoModelForTokenClassification,
        Task.TEXT_RANKING: transformers.AutoModelForSequenceClassification,
        Task.SPARSE_EMBEDDING: transformers.AutoModelForMaskedLM,
    }[info.task]
    folder = str(info.source.folder)
    has_safetensors = any(info.source.folder.glob("*.safetensors"))
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    model = model_class.from_pretrained(
        folder, attn_implementation="eager", dtype=torch.float32, trust_remote_code=trust_remote_code,
        use_safetensors=has_safetensors or None,
    ).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
    if not getattr(tokenizer, "is_fast", False):
        raise UnsupportedModelError(
            "The model's tokenizer has no fast (tokenizers library) version, which the Triton tokenizer model needs."
        )
    input_names = [name for name in TOKEN_INPUT_NAMES if name in tokenizer.model_input_names]
    config = model.config
    signature = Signature.build(info.task, input_names, config.hidden_size, len(info.labels),
                                min(sparse_top_k, config.vocab_size))
    return LoadedModel(
        info=info,
        model=model,
        tokenizer=tokenizer,
        signature=signature,
        max_length=max_length(info, tokenizer, config),
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
    )


def max_length(info: ModelInfo, tokenizer: object, config: object) -> int:
    """Longest token sequence the model takes: sentence-transformers' setting, else tokenizer and positions."""
    st_config = info.source.folder / "sentence_bert_config.json"
    if st_config.is_file():
        value = json.loads(st_config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    positions = getattr(config, "max_position_embeddings", 512)
    if info.model_type in _POSITION_OFFSET_TYPES:
        positions -= 2
    tokenizer_max = getattr(tokenizer, "model_max_length", positions) or positions
    return int(min(positions, tokenizer_max))
