"""Triton Python-backend model: raw UTF-8 texts in, token tensors out, padded to a length bucket.

This file is copied into ``NAME_tokenizer/<version>/model.py``. It runs on the container's Python (3.10)
and imports only numpy and tokenizers, so the same ``TextEncoder`` also serves the exporter's verification
and client-side tokenization.
"""

from __future__ import annotations

import json
import os

import numpy as np
from tokenizers import Tokenizer

try:  # Present only inside Triton's Python backend.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - imported by the exporter and the client
    pb_utils = None

TOKENIZER_FILE = "tokenizer.json"
TEXT_INPUT = "TEXT"
#: Optional request input naming one of the model's prompts (sentence-transformers ``prompt_name``).
PROMPT_NAME_INPUT = "PROMPT_NAME"
#: Config parameters beyond the three integers: which side padding and truncation take, the prompts (JSON).
PADDING_SIDE = "padding_side"
TRUNCATION_SIDE = "truncation_side"
PROMPTS = "prompts"
DEFAULT_PROMPT_NAME = "default_prompt_name"


class TextError(ValueError):
    """A text the tokenizer refuses (not UTF-8, empty)."""


class TextEncoder:
    """Tokenizes a batch of texts into padded int64 arrays.

    Texts longer than ``max_length`` tokens are truncated (on ``truncation_side``). Each batch is padded (on
    ``padding_side``) to its longest text rounded up to a multiple of ``pad_to_multiple_of`` (capped at
    ``max_length``), so requests of similar length get equal shapes and Triton's dynamic batcher can merge them.
    A prompt (by name, else the default one) is prepended to every text, as sentence-transformers does.
    """

    def __init__(self, tokenizer: Tokenizer, output_names: list[str], max_length: int,
                 pad_to_multiple_of: int, pad_token_id: int, padding_side: str = "right",
                 truncation_side: str = "right", prompts: dict[str, str] | None = None,
                 default_prompt_name: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_length, direction=truncation_side)
        self.output_names = list(output_names)
        self.max_length = max_length
        self.pad_to_multiple_of = max(1, pad_to_multiple_of)
        self.pad_token_id = pad_token_id
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.prompts = dict(prompts or {})
        self.default_prompt_name = default_prompt_name or None

    @classmethod
    def from_parameters(cls, tokenizer: Tokenizer, output_names: list[str], parameters: dict[str, str]
                        ) -> TextEncoder:
        """Build from the tokenizer model's config parameters (string values, as Triton stores them)."""
        return cls(
            tokenizer, output_names, int(parameters["max_length"]), int(parameters["pad_to_multiple_of"]),
            int(parameters["pad_token_id"]), parameters.get(PADDING_SIDE) or "right",
            parameters.get(TRUNCATION_SIDE) or "right", json.loads(parameters.get(PROMPTS) or "{}"),
            parameters.get(DEFAULT_PROMPT_NAME) or None,
        )

    def for_outputs(self, output_names: list[str]) -> TextEncoder:
        """The same encoder (tokenizer, limits, sides, prompts) producing ``output_names``."""
        return TextEncoder(self.tokenizer, output_names, self.max_length, self.pad_to_multiple_of, self.pad_token_id,
                           self.padding_side, self.truncation_side, self.prompts, self.default_prompt_name)

    def prompt(self, name: str | None) -> str:
        """Text of the prompt ``name``; the default prompt when ``name`` is ``None`` or empty.

        Raises:
            TextError: No prompt of that name.
        """
        if not name:
            return self.prompts.get(self.default_prompt_name, "") if self.default_prompt_name else ""
        if name not in self.prompts:
            known = ", ".join(sorted(self.prompts)) or "none"
            raise TextError(f"Unknown {PROMPT_NAME_INPUT} '{name}': this model's prompts are {known}")
        return self.prompts[name]

    def with_prompts(self, texts: list[str], names: list[str | None]) -> list[str]:
        """Each text with its prompt (by name, else the default) prepended."""
        return [self.prompt(name) + text for text, name in zip(texts, names)]

    @classmethod
    def from_file(cls, path: str, output_names: list[str], max_length: int, pad_to_multiple_of: int,
                  pad_token_id: int) -> TextEncoder:
        """Load ``tokenizer.json`` from ``path``."""
        return cls(Tokenizer.from_file(path), output_names, max_length, pad_to_multiple_of, pad_token_id)

    def padded_length(self, longest: int) -> int:
        """The sequence length a batch whose longest text has ``longest`` tokens is padded to."""
        bucket = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        return max(1, min(bucket, self.max_length))

    def encode(self, texts: list[str], prompt_name: str | None = None) -> dict[str, np.ndarray]:
        """Tokenize ``texts`` (after the prompt) into ``{output name: int64 array [len(texts), padded length]}``."""
        return self.pad(self.tokenizer.encode_batch(self.with_prompts(texts, [prompt_name] * len(texts))))

    def pad(self, encodings: list) -> dict[str, np.ndarray]:
        """Pad already tokenized texts into arrays (see :meth:`encode`)."""
        length = self.padded_length(max(len(e.ids) for e in encodings))
        arrays = {
            "input_ids": np.full((len(encodings), length), self.pad_token_id, dtype=np.int64),
            "attention_mask": np.zeros((len(encodings), length), dtype=np.int64),
            "token_type_ids": np.zeros((len(encodings), length), dtype=np.int64),
        }
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            span = slice(length - n, length) if self.padding_side == "left" else slice(0, n)
            arrays["input_ids"][row, span] = encoding.ids
            arrays["attention_mask"][row, span] = encoding.attention_mask
            arrays["token_type_ids"][row, span] = encoding.type_ids
        return {name: arrays[name] for name in self.output_names}


def decode_texts(items: np.ndarray) -> list[str]:
    """Turn a TEXT tensor (bytes objects) into strings, refusing invalid UTF-8 and empty texts."""
    texts = []
    for index, item in enumerate(items.reshape(-1)):
        raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TextError(f"TEXT item {index} is not valid UTF-8 (byte {error.start})") from None
        if not text.strip():
            raise TextError(f"TEXT item {index} is empty")
        texts.append(text)
    return texts


def prompt_names(request: object, count: int) -> list[str | None]:
    """The request's ``PROMPT_NAME`` per text (one item applies to all), or ``None`` each when it sent none.

    Raises:
        TextError: The number of names matches neither one nor the number of texts.
    """
    tensor = pb_utils.get_input_tensor_by_name(request, PROMPT_NAME_INPUT)
    if tensor is None:
        return [None] * count
    names = [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
             for item in tensor.as_numpy().reshape(-1)]
    if len(names) == 1:
        return names * count
    if len(names) != count:
        raise TextError(f"{PROMPT_NAME_INPUT} has {len(names)} items for {count} texts: send one, or one per text")
    return names


class TritonPythonModel:
    """The tokenizer model that the ensemble calls first."""

    def initialize(self, args: dict) -> None:
        """Load the tokenizer and read tensor names and dtypes from the model config."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.outputs = [
            (output["name"], pb_utils.triton_string_to_numpy(output["data_type"]))
            for output in config["output"]
        ]
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.encoder = TextEncoder.from_parameters(
            Tokenizer.from_file(os.path.join(folder, TOKENIZER_FILE)), [name for name, _ in self.outputs], parameters
        )

    def execute(self, requests: list) -> list:
        """Tokenize all requests in one call, then pad each request on its own."""
        texts_per_request: list[list[str] | None] = []
        errors: list[str | None] = []
        for request in requests:
            try:
                texts = decode_texts(pb_utils.get_input_tensor_by_name(request, TEXT_INPUT).as_numpy())
                texts_per_request.append(self.encoder.with_prompts(texts, prompt_names(request, len(texts))))
                errors.append(None)
            except TextError as error:
                texts_per_request.append(None)
                errors.append(str(error))
        flat = [text for texts in texts_per_request if texts for text in texts]
        encodings = iter(self.encoder.tokenizer.encode_batch(flat)) if flat else iter(())
        responses = []
        for texts, error in zip(texts_per_request, errors):
            if error is not None:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(error)))
                continue
            arrays = self.encoder.pad([next(encodings) for _ in texts])
            tensors = [pb_utils.Tensor(name, arrays[name].astype(dtype, copy=False)) for name, dtype in self.outputs]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
