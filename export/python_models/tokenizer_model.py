"""Triton Python-backend model: raw UTF-8 texts in, token tensors out, padded to a length bucket.

This file is copied into ``NAME_tokenizer/<version>/model.py``, beside ``tritonize_tokenizer.py`` (a copy of
:mod:`tritonize.repo_format.tokenizer_encoding`, which owns the encoder and the parameter keys). It runs on the
container's Python (3.10) and imports only numpy, tokenizers and that file. Tensor names, dtypes and the
tokenizer's parameters come from ``args["model_config"]``.
"""

from __future__ import annotations

import json
import os

try:  # Present only inside Triton's Python backend.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - imported from the source tree
    pb_utils = None

try:  # Beside this file in the served version folder.
    import tritonize_tokenizer as encoding
except ImportError:  # pragma: no cover - imported from the source tree
    from tritonize.repo_format import tokenizer_encoding as encoding


class TritonPythonModel:
    """The tokenizer model that the ensemble calls first."""

    def initialize(self, args: dict) -> None:
        """Load the tokenizer and read tensor names and dtypes from the model config."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.text_inputs = [item["name"] for item in config["input"] if item["name"] != encoding.PROMPT_NAME_INPUT]
        self.pairs = self.text_inputs == list(encoding.PAIR_INPUTS)
        self.outputs = [
            (output["name"], pb_utils.triton_string_to_numpy(output["data_type"]))
            for output in config["output"]
        ]
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.encoder = encoding.TextEncoder.with_parameters(
            encoding.Tokenizer.from_file(os.path.join(folder, encoding.TOKENIZER_FILENAME)),
            [name for name, _ in self.outputs],
            encoding.TokenizerParameters.from_strings(parameters),
        )

    def execute(self, requests: list) -> list:
        """Tokenize all requests in one call, then pad each request on its own."""
        texts_per_request: list[list | None] = []
        errors: list[str | None] = []
        for request in requests:
            try:
                given = [pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.text_inputs]
                if self.pairs:  # Pairs take no prompt, as sentence-transformers' CrossEncoder.
                    texts_per_request.append(encoding.decode_pairs(*given))
                else:
                    texts = encoding.decode_texts(given[0], self.text_inputs[0])
                    prompts = pb_utils.get_input_tensor_by_name(request, encoding.PROMPT_NAME_INPUT)
                    names = encoding.prompt_names(None if prompts is None else prompts.as_numpy(), len(texts))
                    texts_per_request.append(self.encoder.with_prompts(texts, names))
                errors.append(None)
            except encoding.TextError as error:
                texts_per_request.append(None)
                errors.append(str(error))
        flat = [text for texts in texts_per_request if texts for text in texts]
        encodings = iter(self.encoder.tokenizer.encode_batch(flat)) if flat else iter(())
        responses = []
        for texts, error in zip(texts_per_request, errors):
            if error is not None:
                # INVALID_ARG: the caller's mistake, HTTP 400 (Python backend error codes exist since 23.xx).
                invalid = pb_utils.TritonError(error, pb_utils.TritonError.INVALID_ARG)
                responses.append(pb_utils.InferenceResponse(error=invalid))
                continue
            arrays = self.encoder.pad([next(encodings) for _ in texts])
            tensors = [pb_utils.Tensor(name, arrays[name].astype(dtype, copy=False)) for name, dtype in self.outputs]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
