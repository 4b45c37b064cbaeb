"""What a registered transformers architecture is, and why tritonize refuses it, read from config.json alone.

transformers registers every architecture class in its auto tables (``MODEL_FOR_<TASK>_MAPPING_NAMES``:
model type → class name). The tables an architecture class, or its model type, appears in say its modality
and task, before any weights load: ``ViTModel`` is an image model, ``Wav2Vec2Model`` an audio model,
``LlamaForCausalLM`` text generation. A refusal names that, says that tritonize does not export it yet and where
such models are served on Triton today.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

#: Table (``MODEL_FOR_<NAME>_MAPPING_NAMES``) → what a model in it does, in words, when the name does not say it.
TASK_WORDS = {
    "CAUSAL_LM": "text generation",
    "SEQ_TO_SEQ_CAUSAL_LM": "text-to-text generation",
    "MASKED_LM": "fill-mask",
    "QUESTION_ANSWERING": "extractive question answering",
    "PRETRAINING": "pretraining heads",
    "CTC": "speech recognition (CTC)",
    "SPEECH_SEQ_2_SEQ": "speech recognition",
    "RNNT": "speech recognition (RNN-T)",
    "TDT": "speech recognition (TDT)",
    "AUDIO_XVECTOR": "speaker verification",
    "TEXT_TO_WAVEFORM": "text to speech",
    "TEXT_TO_SPECTROGRAM": "text to speech",
    "IMAGE": "image feature extraction",
    "BACKBONE": "vision backbone",
    "IMAGE_TEXT_TO_TEXT": "image-text-to-text generation",
    "MULTIMODAL_LM": "multimodal generation",
    "DECISION": "decision making (reinforcement learning)",
    "TEXT_RECOGNITION": "text recognition (OCR)",
    "ZERO_SHOT_IMAGE_CLASSIFICATION": "zero-shot image classification",
    "ZERO_SHOT_OBJECT_DETECTION": "zero-shot object detection",
}

#: Tables that say nothing of a model type's modality (every family has pretraining heads).
NEUTRAL = ("MODEL", "PRETRAINING")

#: Modality of each table that is not about text in, text tensors out.
TABLE_MODALITY = {
    **dict.fromkeys(("AUDIO_CLASSIFICATION", "AUDIO_FRAME_CLASSIFICATION", "AUDIO_XVECTOR", "CTC", "SPEECH_SEQ_2_SEQ",
                     "RNNT", "TDT", "TEXT_TO_WAVEFORM", "TEXT_TO_SPECTROGRAM"), "audio"),
    **dict.fromkeys(("IMAGE", "IMAGE_CLASSIFICATION", "BACKBONE", "DEPTH_ESTIMATION", "IMAGE_MATTING",
                     "IMAGE_SEGMENTATION", "IMAGE_TO_IMAGE", "INSTANCE_SEGMENTATION", "KEYPOINT_DETECTION",
                     "KEYPOINT_MATCHING", "MASKED_IMAGE_MODELING", "MASK_GENERATION", "NORMAL_ESTIMATION",
                     "OBJECT_DETECTION", "POINTMAP_ESTIMATION", "POSE_ESTIMATION", "SEMANTIC_SEGMENTATION",
                     "UNIVERSAL_SEGMENTATION", "CAUSAL_IMAGE_MODELING", "TEXT_RECOGNITION", "TABLE_RECOGNITION"),
                    "image"),
    "VIDEO_CLASSIFICATION": "video",
    **dict.fromkeys(("IMAGE_TEXT_TO_TEXT", "MULTIMODAL_LM", "ZERO_SHOT_IMAGE_CLASSIFICATION",
                     "ZERO_SHOT_OBJECT_DETECTION", "VISUAL_QUESTION_ANSWERING", "DOCUMENT_QUESTION_ANSWERING",
                     "RETRIEVAL"), "image-text"),
    **dict.fromkeys(("TIME_SERIES_CLASSIFICATION", "TIME_SERIES_PREDICTION", "TIME_SERIES_REGRESSION"),
                    "time-series"),
    "DECISION": "reinforcement-learning",
}

#: Tables of generation models, served on Triton by the LLM backends.
GENERATION = ("CAUSAL_LM", "SEQ_TO_SEQ_CAUSAL_LM", "IMAGE_TEXT_TO_TEXT", "MULTIMODAL_LM")

#: Words of a class name that give its modality, for a sub-model registered alone.
NAME_MODALITY = {"Vision": "image", "Image": "image", "Vi": "image", "Video": "video", "Audio": "audio",
                 "Speech": "audio", "Asr": "audio", "Codec": "audio"}

#: Where each kind of model is served on Triton today.
WHERE = {
    "generation": "On Triton, generation models are served by the vLLM backend or the TensorRT-LLM backend.",
    "image": "On Triton, image models run in the ONNX Runtime, PyTorch or TensorRT backend, behind a Python-backend "
             "(or DALI) model that does the image preprocessing.",
    "video": "On Triton, video models run in the ONNX Runtime, PyTorch or TensorRT backend, behind a Python-backend "
             "(or DALI) model that decodes and preprocesses the frames.",
    "audio": "On Triton, audio models run in the ONNX Runtime or PyTorch backend behind a Python-backend model that "
             "extracts the audio features (Whisper also on the TensorRT-LLM backend).",
    "image-text": "On Triton, such models run in the ONNX Runtime or PyTorch backend, with the image and text "
                  "preprocessing in Python-backend models.",
    "text": "On Triton, such a head runs in the ONNX Runtime or PyTorch backend once exported to ONNX or TorchScript, "
            "with its own pre- and post-processing in Python-backend models.",
    "time-series": "On Triton, such models run in the ONNX Runtime or PyTorch backend, fed numeric tensors.",
    "reinforcement-learning": "On Triton, such models run in the ONNX Runtime or PyTorch backend, fed numeric "
                              "tensors.",
}

#: What tritonize exports, for every refusal.
EXPORTED = ("tritonize exports text encoders: embeddings (*Model, sentence-transformers folders), "
            "*ForSequenceClassification, *ForTokenClassification, cross-encoders and SPLADE sparse encoders; "
            "and image models from encoded image bytes: *ForImageClassification, image embeddings (an image "
            "family's *Model, *VisionModelWithProjection), CLIP/SigLIP image and text towers")

#: Class-name suffix of the image classifiers tritonize exports.
IMAGE_CLASSIFIER_SUFFIX = "ForImageClassification"
#: Class-name suffixes of the image embedding models tritonize exports (an image family's base model).
IMAGE_EMBEDDING_SUFFIXES = ("VisionModelWithProjection", "Model")

#: Tables of the heads tritonize exports (base models give embeddings).
EXPORTED_TABLES = ("MODEL", "SEQUENCE_CLASSIFICATION", "TOKEN_CLASSIFICATION")
#: The same heads by class-name suffix, for classes transformers does not register (remote code).
EXPORTED_SUFFIXES = ("Model", "ForSequenceClassification", "ForTokenClassification")


@dataclass(frozen=True)
class Kind:
    """What an architecture is, from the tables that register it.

    Attributes:
        modality: ``text``, ``image``, ``audio``, ``video``, ``image-text``, ``time-series`` …
        task: Its task in words (``image classification``, ``text generation``); empty for a base model.
        table: The table the task comes from (empty for a base model).
        generation: The model, or its family's task models (a base model), generate text.
    """

    modality: str
    task: str
    table: str = ""
    generation: bool = False

    def describe(self) -> str:
        """``an image model (image classification)``."""
        return f"{_article(self.modality)} {self.modality} model" + (f" ({self.task})" if self.task else "")

    def where(self) -> str:
        """Where such models are served on Triton today."""
        if self.generation or self.table in GENERATION:
            return WHERE["generation"]
        return WHERE.get(self.modality, WHERE["text"])


@functools.cache
def tables() -> dict[str, dict[str, tuple[str, ...]]]:
    """Every ``MODEL_*_MAPPING_NAMES`` table of transformers: short name → model type → class names."""
    from transformers.models.auto import modeling_auto

    found = {}
    for name in dir(modeling_auto):
        if name.startswith("MODEL_") and name.endswith("_MAPPING_NAMES"):
            short = "MODEL" if name == "MODEL_MAPPING_NAMES" else name.removeprefix("MODEL_FOR_").removesuffix(
                "_MAPPING_NAMES")
            table = getattr(modeling_auto, name)
            found[short] = {key: value if isinstance(value, tuple) else (value,) for key, value in table.items()}
    return found


@functools.cache
def tables_of_class() -> dict[str, tuple[str, ...]]:
    """Architecture class name → the tables that register it (``MODEL`` for a base model)."""
    found: dict[str, list[str]] = {}
    for short, table in tables().items():
        for classes in table.values():
            for name in classes:
                found.setdefault(name, []).append(short)
    return {name: tuple(shorts) for name, shorts in found.items()}


@functools.cache
def processor_modality(model_type: str) -> str:
    """``image``, ``video`` or ``audio`` when the family has such a processor (and no tokenizer), else ``""``."""
    from transformers.models.auto import feature_extraction_auto, image_processing_auto, tokenization_auto

    if model_type in tokenization_auto.TOKENIZER_MAPPING_NAMES:
        return ""
    if model_type in image_processing_auto.IMAGE_PROCESSOR_MAPPING_NAMES:
        return "image"
    try:
        from transformers.models.auto import video_processing_auto

        if model_type in video_processing_auto.VIDEO_PROCESSOR_MAPPING_NAMES:
            return "video"
    except ImportError:  # older transformers
        pass
    return "audio" if model_type in feature_extraction_auto.FEATURE_EXTRACTOR_MAPPING_NAMES else ""


def task_words(table: str) -> str:
    """A table's task in words: ``IMAGE_CLASSIFICATION`` → ``image classification``."""
    return TASK_WORDS.get(table, table.lower().replace("_", " "))


def kind_of(model_type: str, architecture: str) -> Kind:
    """The modality and task of ``architecture``: its task from its own tables, its modality from its family's.

    A family with any audio table is an audio family (Whisper's decoder is registered as a causal LM too);
    one with a text table is a text family; otherwise its non-text tables name it (image-text before image).
    """
    family = [short for short, table in tables().items() if model_type in table and short not in NEUTRAL]
    modalities = {TABLE_MODALITY.get(t, "text") for t in family}
    if "audio" in modalities:
        modality = "audio"
    elif not modalities:  # a base model alone (EncodecModel, CLIPVisionModel): its processor, else its name
        words = set(re.findall(r"[A-Z][a-z]+", architecture))
        by_name = next((m for word, m in NAME_MODALITY.items() if word in words), "text")
        modality = processor_modality(model_type) or by_name
    elif "text" in modalities:
        modality = "text"
    else:
        modality = "image-text" if "image-text" in modalities else TABLE_MODALITY[family[0]]
    registered = tables_of_class().get(architecture, ())
    own = [t for t in registered if t not in NEUTRAL]
    if own:
        table = sorted(own, key=lambda t: t not in TABLE_MODALITY)[0]
        return Kind(TABLE_MODALITY.get(table, modality), task_words(table), table)
    if "PRETRAINING" in registered:
        return Kind(modality, task_words("PRETRAINING"), "PRETRAINING")
    generation = any(t in GENERATION for t in family)
    if modality == "text":
        return Kind("text", "", generation=generation)
    tasks = ", ".join(dict.fromkeys(task_words(t) for t in family if t in TABLE_MODALITY))
    return Kind(modality, tasks, generation=generation)


def refusal(config: dict, architecture: str) -> str | None:
    """Why tritonize does not export ``architecture`` (one line), or ``None`` when it may.

    Args:
        config: The folder's ``config.json``.
        architecture: The first of its ``architectures``.
    """
    model_type = str(config.get("model_type", ""))
    if architecture in tables().get("TEXT_ENCODING", {}).get(model_type, ()):
        return None  # an encoder of an encoder-decoder family (T5EncoderModel), or a multimodal model's text tower
    if exported_image_task(model_type, architecture):
        return None  # served from encoded image bytes (export.images)
    kind = kind_of(model_type, architecture)
    registered = tables_of_class().get(architecture)
    suffix = architecture.endswith(EXPORTED_SUFFIXES) and not architecture.endswith("LMHeadModel")
    head = suffix and (registered is None or bool(set(registered) & set(EXPORTED_TABLES)))
    if kind.modality == "text" and head and _encoder_decoder(config, model_type):
        encoder = tables().get("TEXT_ENCODING", {}).get(model_type, ())
        hint = (f" For embeddings, export its encoder ({encoder[0]} in config.json architectures)."
                if encoder else "")
        what = "its head reads the decoder's output" if kind.task else "an encoder and a decoder"
        return (f"'{architecture}' is an encoder-decoder text model ({what}): tritonize does not export "
                f"encoder-decoder models yet.{hint} {WHERE['text']} {EXPORTED}.")
    if kind.modality == "text" and (head or registered is None):
        return None  # an exported head, or a class transformers does not register (the detection decides)
    where = kind.where()
    if kind.table == "MASKED_LM":
        where += " Pass --task sparse-embedding to export it as a SPLADE sparse encoder."
    return _refused(architecture, kind.describe(), where)


def exported_image_task(model_type: str, architecture: str) -> str:
    """What tritonize exports of an image model: ``classification``, ``embedding``, ``image-text`` or ``""``.

    ``image-text``: CLIP, SigLIP and kin (the zero-shot table), whose image and text towers are both served.
    """
    if architecture in tables().get("ZERO_SHOT_IMAGE_CLASSIFICATION", {}).get(model_type, ()):
        return "image-text"
    if architecture.endswith(IMAGE_CLASSIFIER_SUFFIX):
        return "classification"
    if architecture.endswith(IMAGE_EMBEDDING_SUFFIXES) and kind_of(model_type, architecture).modality == "image":
        return "embedding"
    return ""


def _refused(architecture: str, what: str, where: str) -> str:
    return f"'{architecture}' is {what}: tritonize does not export it yet. {where} {EXPORTED}."


def _encoder_decoder(config: dict, model_type: str) -> bool:
    """The model has an encoder and a decoder (BART, T5): ``is_encoder_decoder``, or a sequence-to-sequence family."""
    if "is_encoder_decoder" in config:
        return bool(config["is_encoder_decoder"])
    return model_type in tables().get("SEQ_TO_SEQ_CAUSAL_LM", {})


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
