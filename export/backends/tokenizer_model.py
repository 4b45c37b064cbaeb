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
#: Inputs of a pair model (rerankers): one query and one passage per batch item, tokenized as one pair.
PAIR_INPUTS = ("QUERY", "PASSAGE")


class TextError(ValueError):
    """A text the tokenizer refuses (not UTF-8, empty)."""


class TextEncoder:
    """Tokenizes a batch of texts into padded int64 arrays.

    Texts longer than ``max_length`` tokens are truncated. Each batch is padded to its longest text rounded
    up to a multiple of ``pad_to_multiple_of`` (capped at ``max_length``), so requests of similar length get
    equal shapes and Triton's dynamic batcher can merge them.
    """

    def __init__(self, tokenizer: Tokenizer, output_names: list[str], max_length: int,
                 pad_to_multiple_of: int, pad_token_id: int) -> None:
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_length)
        self.output_names = list(output_names)
        self.max_length = max_length
        self.pad_to_multiple_of = max(1, pad_to_multiple_of)
        self.pad_token_id = pad_token_id

    @classmethod
    def from_file(cls, path: str, output_names: list[str], max_length: int, pad_to_multiple_of: int,
                  pad_token_id: int) -> TextEncoder:
        """Load ``tokenizer.json`` from ``path``."""
        return cls(Tokenizer.from_file(path), output_names, max_length, pad_to_multiple_of, pad_token_id)

    def padded_length(self, longest: int) -> int:
        """The sequence length a batch whose longest text has ``longest`` tokens is padded to."""
        bucket = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        return max(1, min(bucket, self.max_length))

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Tokenize ``texts`` into ``{output name: int64 array [len(texts), padded length]}``."""
        return self.pad(self.tokenizer.encode_batch(texts))

    def encode_pairs(self, queries: list[str], passages: list[str]) -> dict[str, np.ndarray]:
        """Tokenize ``(query, passage)`` pairs as the model's tokenizer does pairs, longer side truncated first."""
        return self.pad(self.tokenizer.encode_batch(list(zip(queries, passages))))

    def pad(self, encodings: list) -> dict[str, np.ndarray]:
        """Pad already tokenized texts into arrays (see :meth:`encode`).

        Besides the model's token tensors, ``offsets`` (``[n, length, 2]``: each token's character span in its
        text) and ``special_tokens_mask`` (1 for special tokens and padding) are made when asked for.
        """
        length = self.padded_length(max(len(e.ids) for e in encodings))
        arrays = {
            "input_ids": np.full((len(encodings), length), self.pad_token_id, dtype=np.int64),
            "attention_mask": np.zeros((len(encodings), length), dtype=np.int64),
            "token_type_ids": np.zeros((len(encodings), length), dtype=np.int64),
        }
        spans = "offsets" in self.output_names
        if spans:
            arrays["offsets"] = np.zeros((len(encodings), length, 2), dtype=np.int64)
            arrays["special_tokens_mask"] = np.ones((len(encodings), length), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            arrays["input_ids"][row, :n] = encoding.ids
            arrays["attention_mask"][row, :n] = encoding.attention_mask
            arrays["token_type_ids"][row, :n] = encoding.type_ids
            if spans:
                arrays["offsets"][row, :n] = np.asarray(encoding.offsets, dtype=np.int64).reshape(n, 2)
                arrays["special_tokens_mask"][row, :n] = encoding.special_tokens_mask
        return {name: arrays[name] for name in self.output_names}


def decode_texts(items: np.ndarray, name: str = TEXT_INPUT) -> list[str]:
    """Turn a TEXT tensor (bytes objects) into strings, refusing invalid UTF-8 and empty texts."""
    texts = []
    for index, item in enumerate(items.reshape(-1)):
        raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TextError(f"{name} item {index} is not valid UTF-8 (byte {error.start})") from None
        if not text.strip():
            raise TextError(f"{name} item {index} is empty")
        texts.append(text)
    return texts


def decode_pairs(queries: np.ndarray, passages: np.ndarray) -> list[tuple[str, str]]:
    """Turn QUERY and PASSAGE tensors into pairs, refusing unequal lengths, invalid UTF-8 and empty sides."""
    first, second = decode_texts(queries, PAIR_INPUTS[0]), decode_texts(passages, PAIR_INPUTS[1])
    if len(first) != len(second):
        raise TextError(f"{PAIR_INPUTS[0]} has {len(first)} items but {PAIR_INPUTS[1]} has {len(second)}; "
                        f"send one passage per query")
    return list(zip(first, second))


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
        self.pairs = [item["name"] for item in config["input"]] == list(PAIR_INPUTS)
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.encoder = TextEncoder.from_file(
            os.path.join(folder, TOKENIZER_FILE),
            output_names=[name for name, _ in self.outputs],
            max_length=int(parameters["max_length"]),
            pad_to_multiple_of=int(parameters["pad_to_multiple_of"]),
            pad_token_id=int(parameters["pad_token_id"]),
        )

    def execute(self, requests: list) -> list:
        """Tokenize all requests in one call, then pad each request on its own."""
        texts_per_request: list[list | None] = []
        errors: list[str | None] = []
        for request in requests:
            try:
                if self.pairs:
                    texts: list = decode_pairs(*(pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                                                 for name in PAIR_INPUTS))
                else:
                    texts = decode_texts(pb_utils.get_input_tensor_by_name(request, TEXT_INPUT).as_numpy())
                texts_per_request.append(texts)
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
