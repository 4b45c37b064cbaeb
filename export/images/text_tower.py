"""The text tower of a CLIP-style export: tokenizer step + text artifact + text ensemble, like a text export.

The served text embedding is ``get_text_features(input_ids, attention_mask)`` (CLIP: the projected EOS state;
SigLIP: the projected last position, so its texts are padded to the tokenizer's fixed length, as
``pipeline("zero-shot-image-classification")`` pads them). CLIP's tokenizer is served as it is: its decoder's
``</w>`` word-end marks are not an error (the encoding is what is checked).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tritonclient.grpc import model_config_pb2 as mc

from export.artifacts import export_and_verify
from export.folders import model_folders
from export.gates import GateOverrides, gate_for
from export.load_model import LoadedModel, ModelInfo
from export.progress import Progress
from export.repository import ModelFolder
from export.served_tokenizer import check_served_tokenizer, text_encoder
from export.settings import ExportSettings, Format
from export.signature import Signature, Task, TensorSpec
from export.source import ModelSource
from export.st_modules import Pooling
from export.tokenizer_check import check_tokenizer
from export.triton_config import ModelNames
from export.verify import VERIFICATION_BATCHES, VERIFICATION_TEXTS, Check, compare, verification_inputs
from tritonize.repo_format.tokenizer_encoding import TextEncoder

#: Token tensors the text towers take, when their tokenizer produces them.
TEXT_TOWER_INPUTS = ("input_ids", "attention_mask")


class TextFeaturesHead(torch.nn.Module):
    """Token tensors → ``get_text_features`` (the projected text embedding)."""

    def __init__(self, model: torch.nn.Module, input_names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return the text embedding of each row."""
        kwargs = {"attention_mask": attention_mask} if "attention_mask" in self.input_names else {}
        return features(self.model.get_text_features(input_ids=input_ids, **kwargs))


def features(outputs: object) -> torch.Tensor:
    """The projected embedding of ``get_*_features``: a tensor (older transformers) or ``pooler_output``."""
    return outputs if isinstance(outputs, torch.Tensor) else outputs.pooler_output


def fixed_length(model_type: str) -> int:
    """Tokens every text is padded to: 64 for SigLIP (its pooling reads the last position), else 0 (buckets)."""
    return 64 if "siglip" in model_type else 0


@dataclass
class TextTower:
    """The text tower's export, ready to stage.

    Attributes:
        names: Its model names (``NAME_text`` …).
        loaded: Model, tokenizer and signature, as a text export holds them.
        encoder: The served tokenizer's encoder.
        models: Its model folders.
        checks: Verification rows (reference, artifacts).
        settings: The export settings of the tower (fixed padding for SigLIP).
        batches: The verification texts' token batches.
        references: PyTorch's embeddings of each batch.
    """

    names: ModelNames
    loaded: LoadedModel
    encoder: TextEncoder
    models: list[ModelFolder]
    checks: list[Check]
    settings: ExportSettings
    batches: list[dict]
    references: list[list[np.ndarray]]

    def embed(self, texts: list[str]) -> np.ndarray:
        """PyTorch's text embeddings of ``texts``, tokenized as the served tokenizer does."""
        head = TextFeaturesHead(self.loaded.model, tuple(self.loaded.signature.input_names))
        batch = self.encoder.encode(texts)
        with torch.inference_mode():
            return head(*[torch.from_numpy(batch[n]) for n in self.loaded.signature.input_names]).numpy()

    def requests(self) -> list[dict[str, list[str]]]:
        """The load check's requests to the text ensemble: the verification texts, batch by batch."""
        from tritonize.repo_format.tokenizer_encoding import TEXT_INPUT

        return [{TEXT_INPUT: [VERIFICATION_TEXTS[i] for i in batch]} for batch in VERIFICATION_BATCHES]


def export_text_tower(model: torch.nn.Module, tokenizer: object, source: ModelSource, base: str,
                      settings: ExportSettings, ensemble_format: Format, tmp: Path, progress: Progress) -> TextTower:
    """Export, verify and assemble the text tower of ``model`` (nothing written: the caller stages it).

    Raises:
        TokenizerError, VerificationError: The served tokenizer or the text artifact disagrees.
    """
    model_type = model.config.model_type
    names = ModelNames(f"{base}_text")
    padding = fixed_length(model_type)
    max_length = padding or int(min(tokenizer.model_max_length, model.config.text_config.max_position_embeddings))
    if padding:
        settings = replace(settings, batching=replace(settings.batching, pad_to_multiple_of=padding))
    input_names = tuple(n for n in TEXT_TOWER_INPUTS if n in tokenizer.model_input_names)
    width = int(getattr(model.config, "projection_dim", 0) or model.config.text_config.hidden_size)
    signature = Signature(Task.FEATURE_EXTRACTION,
                          tuple(TensorSpec(n, mc.TYPE_INT64, (-1,)) for n in input_names),
                          (TensorSpec("embeddings", mc.TYPE_FP32, (width,)),))
    info = ModelInfo(source=source, task=Task.FEATURE_EXTRACTION, model_type=model_type,
                     architecture=type(model).__name__, pooling=Pooling(("cls",)), labels=(), multi_label=False)
    loaded = LoadedModel(info=info, model=model, tokenizer=tokenizer, signature=signature, max_length=max_length,
                         pad_token_id=int(tokenizer.pad_token_id or 0))
    tokenizer_json = tokenizer.backend_tokenizer.to_str()
    encoder = text_encoder(loaded, tokenizer_json, settings.batching.pad_to_multiple_of)
    check_tokenizer(source.folder, source.model_id, tokenizer, encoder.tokenizer)
    check_served_tokenizer(loaded, encoder)
    head = TextFeaturesHead(model, input_names).eval()
    batches = verification_inputs(encoder)
    with torch.inference_mode():
        references = [[head(*[torch.from_numpy(b[n]) for n in input_names]).numpy()] for b in batches]
    with progress.step("Verifying the text tower against get_text_features on transformers' tokens"):
        checks = reference_check(model, tokenizer, signature, batches, references, padding, max_length)
    tower_dir = tmp / "text"
    tower_dir.mkdir()
    artifacts, artifact_checks = export_and_verify(head, loaded, batches, references, tower_dir, settings, progress,
                                                   signature, lambda outputs: outputs)
    checks += [replace(c, artifact=f"text {c.artifact}"[:30]) for c in artifact_checks]
    models = model_folders(names, settings, loaded, ensemble_format, artifacts, tokenizer_json)
    return TextTower(names, loaded, encoder, models, checks, settings, batches, references)


def reference_check(model: torch.nn.Module, tokenizer: object, signature: Signature, batches: list[dict],
                    references: list[list[np.ndarray]], padding: int, max_length: int) -> list[Check]:
    """PyTorch on the served tokens against ``get_text_features`` on transformers' tokenizer, text by text."""
    kwargs = {"padding": "max_length"} if padding else {}  # SigLIP: as its zero-shot pipeline pads
    expected = []
    for batch in VERIFICATION_BATCHES:
        rows = []
        for index in batch:
            inputs = tokenizer([VERIFICATION_TEXTS[index]], return_tensors="pt", truncation=True,
                               max_length=max_length, **kwargs)
            with torch.inference_mode():
                rows.append(features(model.get_text_features(**{k: v for k, v in inputs.items()
                                                                 if k in TEXT_TOWER_INPUTS})).numpy()[0])
        expected.append([np.stack(rows)])
    gate = gate_for("fp32", Task.FEATURE_EXTRACTION, GateOverrides())
    return [replace(c, artifact="text pytorch (served tokens)", against="transformers get_text_features")
            for c in compare("text", signature, batches, expected, references, gate)]

