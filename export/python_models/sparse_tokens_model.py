"""Triton Python-backend model: vocabulary indices → token strings, the last step of a sparse-embedding ensemble.

This file is copied into ``NAME_vocabulary/<version>/model.py`` beside the model's ``tokenizer.json`` and
``tritonize_tokenizer.py``; it imports only numpy, tokenizers and that file. It returns ``tokens`` (the token
of each index; empty for index -1, the padding of texts with fewer non-zero weights) and passes ``indices`` and
``weights`` through: Triton's ensemble scheduler deadlocks when a client requests only some outputs and one of
them also feeds a later step.
"""

from __future__ import annotations

import os

import numpy as np

try:  # Present only inside Triton's Python backend.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - imported from the source tree
    pb_utils = None

try:  # Beside this file in the served version folder.
    import tritonize_tokenizer as encoding
except ImportError:  # pragma: no cover - imported from the source tree
    from tritonize.repo_format import tokenizer_encoding as encoding

Tokenizer = encoding.Tokenizer
INPUTS = ("indices", "weights")
TOKENS_OUTPUT = "tokens"
PASSED_THROUGH = {name: f"{name}_out" for name in INPUTS}


def token_strings(tokenizer: Tokenizer, indices: np.ndarray) -> np.ndarray:
    """UTF-8 token strings of ``indices`` (any shape); ``b""`` for -1."""
    flat = [tokenizer.id_to_token(int(i)) if i >= 0 else "" for i in indices.reshape(-1)]
    return np.array([(token or "").encode("utf-8") for token in flat], dtype=np.object_).reshape(indices.shape)


class TritonPythonModel:
    """Adds the vocabulary token of every kept index."""

    def initialize(self, args: dict) -> None:
        """Load the tokenizer (its vocabulary)."""
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.tokenizer = Tokenizer.from_file(os.path.join(folder, encoding.TOKENIZER_FILENAME))

    def execute(self, requests: list) -> list:
        """Look up each request's indices."""
        responses = []
        for request in requests:
            indices, weights = (pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in INPUTS)
            tensors = [pb_utils.Tensor(TOKENS_OUTPUT, token_strings(self.tokenizer, indices)),
                       pb_utils.Tensor(PASSED_THROUGH["indices"], indices),
                       pb_utils.Tensor(PASSED_THROUGH["weights"], weights)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
