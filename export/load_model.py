"""Load a model folder: detect its task and pooling, and build the PyTorch model and tokenizer.

Any architecture ``transformers`` loads is accepted; whether it exports is decided by tracing and verifying
it (against sentence-transformers or transformers), never by a list of names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from export.architectures import refusal
from export.errors import UnsupportedModelError
from export.signature import TOKEN_INPUT_NAMES, Signature, Task
from export.source import ModelSource
from export.st_modules import Pooling, StFolder, is_st_folder, read_pooling_config, read_st_folder
from export.tasks.detection import ST_CONFIG_FILE, alternative_tasks, class_names, detect_special_task

#: Architecture suffix → task.
HEAD_TASKS = {
    "ForSequenceClassification": Task.TEXT_CLASSIFICATION,
    "ForTokenClassification": Task.TOKEN_CLASSIFICATION,
    "Model": Task.FEATURE_EXTRACTION,
}

#: Attention implementation that traces into ONNX and TorchScript (no flash, unpadded or compiled kernels).
TRACEABLE_ATTENTION = "eager"


@dataclass(frozen=True)
class ModelInfo:
    """What the folder says about a model, read before any weights load.

    Attributes:
        source: Where the model lives.
        task: What the export will return.
        model_type: The Hugging Face model family.
        architecture: The first architecture in ``config.json`` (empty when none is named).
        pooling: Sentence-embedding pooling (feature extraction only).
        labels: Class names in index order (classification tasks).
        multi_label: Classes are independent (sigmoid) rather than exclusive (softmax).
        st_folder: The sentence-transformers modules and prompts, for sentence-transformers folders.
        decoder: A causal (decoder-only) language model family.
    """

    source: ModelSource
    task: Task
    model_type: str
    architecture: str
    pooling: Pooling
    labels: tuple[str, ...]
    multi_label: bool
    st_folder: StFolder | None = None
    decoder: bool = False


@dataclass
class LoadedModel:
    """A model ready for export: PyTorch model, tokenizer and the signature derived from both.

    Attributes:
        info: What the folder declares.
        model: The ``transformers`` model (the Transformer module's model for sentence-transformers folders).
        tokenizer: The fast tokenizer.
        signature: Tensor interface of the exported graph.
        max_length: Longest token sequence (sentence-transformers' ``max_seq_length`` when set).
        pad_token_id: Token id written into padding.
        reference: The ``SentenceTransformer`` that defines the folder (sentence-transformers folders only).
        embedding_dim: Width of the served embeddings (feature extraction).
        truncate_dim: Matryoshka width the embeddings are cut to, when narrower than the model's.
    """

    info: ModelInfo
    model: object  # transformers.PreTrainedModel
    tokenizer: object  # transformers.PreTrainedTokenizerFast
    signature: Signature
    max_length: int
    pad_token_id: int
    reference: object | None = None  # sentence_transformers.SentenceTransformer
    embedding_dim: int = 0
    truncate_dim: int | None = None


def read_info(source: ModelSource, task: Task | None = None) -> ModelInfo:
    """Read task, pooling and labels from the folder's files (``--task`` overrides the detected task).

    Raises:
        UnsupportedModelError: The head, task or a sentence-transformers module cannot be exported.
    """
    config = json.loads((source.folder / "config.json").read_text())
    model_type = config.get("model_type", "")
    architectures = config.get("architectures") or []
    architecture = architectures[0] if architectures else ""
    detected = detect_task(architectures, source.folder)
    alternatives = alternative_tasks(architectures, detected)
    reason = refusal(config, architecture) if architecture and not _defined_by_folder(source.folder) else None
    if reason is not None and (task is None or task not in alternatives):
        raise UnsupportedModelError(reason)
    if detected is None and task not in alternatives:
        raise UnsupportedModelError(
            f"Unsupported architecture '{architecture or 'unknown'}': "
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
    labelled = chosen not in (Task.FEATURE_EXTRACTION, Task.SPARSE_EMBEDDING)
    labels = class_names(config) if labelled else ()
    decoder = is_decoder(model_type)
    st_folder = read_st_folder(source.folder) if chosen is Task.FEATURE_EXTRACTION and is_st_folder(
        source.folder) else None
    return ModelInfo(
        source=source,
        task=chosen,
        model_type=model_type,
        architecture=architecture,
        pooling=st_folder.pooling if st_folder else default_pooling(source.folder, decoder),
        labels=labels,
        multi_label=config.get("problem_type") == "multi_label_classification",
        st_folder=st_folder,
        decoder=decoder,
    )


def _defined_by_folder(folder: Path) -> bool:
    """The task comes from sentence-transformers files, not from the architecture (its refusals do not apply)."""
    return any((is_st_folder(folder), (folder / ST_CONFIG_FILE).is_file(),
                (folder / "1_Pooling" / "config.json").is_file()))


def detect_task(architectures: list[str], folder: Path) -> Task | None:
    """The task a folder was trained for, or ``None`` when its head is not one we export."""
    special = detect_special_task(folder, architectures)
    if special is not None:
        return special
    if is_st_folder(folder) or (folder / "1_Pooling" / "config.json").is_file():
        return Task.FEATURE_EXTRACTION
    for architecture in architectures:
        if architecture.endswith("LMHeadModel"):  # a language-model head, not an encoder
            continue
        for suffix, task in HEAD_TASKS.items():
            if architecture.endswith(suffix):
                return task
    return None if architectures else Task.FEATURE_EXTRACTION


def is_decoder(model_type: str) -> bool:
    """A causal language-model family (Qwen, Mistral, Gemma …): attention runs left to right only."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def default_pooling(folder: Path, decoder: bool) -> Pooling:
    """Pooling of a folder without ``modules.json``: a legacy ``1_Pooling``, else last token (decoders) or mean."""
    legacy = folder / "1_Pooling" / "config.json"
    if legacy.is_file():
        return read_pooling_config(legacy)
    return Pooling(("lasttoken",) if decoder else ("mean",))


def load_model(info: ModelInfo, trust_remote_code: bool = False, truncate_dim: int | None = None,
               sparse_top_k: int = 0) -> LoadedModel:
    """Load weights in fp32 on the CPU with traceable attention and no KV cache, and the fast tokenizer.

    Sentence-transformers folders load through ``SentenceTransformer`` itself (the reference), whose
    Transformer module provides the model and tokenizer that get exported. ``sparse_top_k`` is the number of
    (index, weight) pairs a sparse embedding keeps (capped at the vocabulary).

    Raises:
        UnsupportedModelError: ``transformers`` cannot load it, or its tokenizer has no fast version.
    """
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        if info.st_folder is not None:
            reference = _load_sentence_transformer(info, trust_remote_code)
            model, tokenizer = reference[0].auto_model, reference[0].tokenizer
        else:
            reference = None
            model = _load_transformers_model(info, trust_remote_code)
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(info.source.folder),
                                                                   trust_remote_code=trust_remote_code)
    except (ValueError, KeyError, OSError, ImportError, TypeError, AttributeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnsupportedModelError(
            f"Cannot load '{info.architecture or info.model_type}' with transformers: {reason}"
        ) from error
    _disable_cache(model.config)
    if not getattr(tokenizer, "is_fast", False):
        raise UnsupportedModelError(
            "The model's tokenizer has no fast (tokenizers library) version, which the Triton tokenizer model needs."
        )
    forward_args = _forward_arguments(model)
    input_names = [name for name in TOKEN_INPUT_NAMES if name in tokenizer.model_input_names and name in forward_args]
    if "input_ids" not in input_names or "attention_mask" not in input_names:
        raise UnsupportedModelError(
            f"'{info.architecture or info.model_type}' does not take input_ids and attention_mask from its "
            f"tokenizer ({', '.join(tokenizer.model_input_names)}): only text models export."
        )
    full_dim, truncated = _embedding_dims(info, model, reference, truncate_dim)
    signature = Signature.build(info.task, input_names, truncated or full_dim, len(info.labels),
                                min(sparse_top_k, model.config.vocab_size) if sparse_top_k else 0)
    return LoadedModel(
        info=info,
        model=model,
        tokenizer=tokenizer,
        signature=signature,
        max_length=max_length(info, tokenizer, model, reference),
        pad_token_id=pad_token_id(tokenizer),
        reference=reference,
        embedding_dim=truncated or full_dim,
        truncate_dim=truncated if truncated != full_dim else None,
    )


def _load_sentence_transformer(info: ModelInfo, trust_remote_code: bool) -> object:
    import torch
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(
        str(info.source.folder), device="cpu", trust_remote_code=trust_remote_code, local_files_only=True,
        model_kwargs={"attn_implementation": TRACEABLE_ATTENTION, "dtype": torch.float32},
    ).eval()


def _load_transformers_model(info: ModelInfo, trust_remote_code: bool) -> object:
    import torch
    import transformers

    if info.task is Task.FEATURE_EXTRACTION:
        # An encoder-only class named by the folder (T5EncoderModel) is what it was saved as; AutoModel would
        # build the full encoder-decoder.
        named = getattr(transformers, info.architecture, None) if info.architecture.endswith("EncoderModel") else None
        model_class = named or transformers.AutoModel
    elif info.task in (Task.TEXT_CLASSIFICATION, Task.TEXT_RANKING):
        model_class = transformers.AutoModelForSequenceClassification
    elif info.task is Task.SPARSE_EMBEDDING:
        model_class = transformers.AutoModelForMaskedLM
    else:
        model_class = transformers.AutoModelForTokenClassification
    folder = info.source.folder
    has_safetensors = any(folder.glob("*.safetensors"))
    model = model_class.from_pretrained(
        str(folder), attn_implementation=TRACEABLE_ATTENTION, dtype=torch.float32, trust_remote_code=trust_remote_code,
        use_safetensors=has_safetensors or None,
    ).eval()
    if getattr(model.config, "is_encoder_decoder", False):
        raise UnsupportedModelError(
            f"'{info.architecture or info.model_type}' is an encoder-decoder model: export its encoder "
            f"(e.g. T5EncoderModel in config.json architectures) or a sentence-transformers folder."
        )
    return model


def _disable_cache(config: object) -> None:
    """No KV cache: the exported graph returns only its task outputs."""
    if hasattr(config, "use_cache"):
        config.use_cache = False
    for name in ("text_config", "encoder", "decoder"):
        sub = getattr(config, name, None)
        if sub is not None and hasattr(sub, "use_cache"):
            sub.use_cache = False


def _forward_arguments(model: object) -> set[str]:
    import inspect

    return set(inspect.signature(model.forward).parameters)


def _embedding_dims(info: ModelInfo, model: object, reference: object | None,
                    truncate_dim: int | None) -> tuple[int, int | None]:
    """The model's embedding width and the Matryoshka width asked for (option, else the folder's ``truncate_dim``)."""
    if info.task is not Task.FEATURE_EXTRACTION:
        return 0, None
    if reference is not None:
        saved, reference.truncate_dim = reference.truncate_dim, None
        full = reference.get_embedding_dimension()
        reference.truncate_dim = saved
    else:
        full = hidden_size(model.config) * len(info.pooling.modes)
    wanted = truncate_dim or (info.st_folder.truncate_dim if info.st_folder else None)
    if wanted is None:
        return full, None
    if not 0 < wanted <= full:
        raise UnsupportedModelError(f"--truncate-dim {wanted} must be between 1 and the embedding width {full}.")
    return full, wanted


def hidden_size(config: object) -> int:
    """Width of the token states (``hidden_size``, or ``d_model`` in T5).

    Raises:
        UnsupportedModelError: The config names neither (a composite config, such as CLIP's).
    """
    width = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
    if not width:
        raise UnsupportedModelError(f"'{type(config).__name__}' names no hidden_size or d_model: tritonize cannot "
                                    f"tell the width of its token states.")
    return int(width)


def pad_token_id(tokenizer: object) -> int:
    """The tokenizer's padding id; its EOS for decoders that name no pad token; else 0."""
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if value is not None:
            return int(value)
    return 0


def max_length(info: ModelInfo, tokenizer: object, model: object, reference: object | None = None) -> int:
    """Longest token sequence: sentence-transformers' ``max_seq_length``, else the tokenizer and position table."""
    if reference is not None and reference.max_seq_length:
        return int(reference.max_seq_length)
    st_config = info.source.folder / "sentence_bert_config.json"  # sparse encoders' MLM transformer setting
    if reference is None and st_config.is_file():
        value = json.loads(st_config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    config = model.config
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 512
    positions -= position_offset(model)
    tokenizer_max = getattr(tokenizer, "model_max_length", positions) or positions
    return int(min(positions, tokenizer_max))


def position_offset(model: object) -> int:
    """Positions taken before the first token: ``padding_idx + 1`` where position ids start after padding."""
    from torch import nn

    for name, module in model.named_modules():
        if (name.endswith("position_embeddings") and isinstance(module, nn.Embedding)
                and isinstance(module.padding_idx, int)):
            return module.padding_idx + 1
    return 0
