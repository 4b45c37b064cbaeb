"""Triton Python-backend model: texts in, the ONNX model's outputs out, in ONE step (``--serving one-step``).

The CPU default for text exports whose ensemble would be exactly tokenizer → ONNX model (issue 31): one model
hop per request (one stub transport, no ensemble scheduling) instead of two. It takes the ensemble's name,
inputs (``TEXT`` and the optional ``PROMPT_NAME``, or a reranker's ``QUERY``/``PASSAGE``) and outputs, plus
the optional ``token_count`` output (each text's tokens, for the gateway's ``usage``), made only for the requests
that ask for it.

This file is copied into ``NAME/<version>/model.py``, beside ``tritonize_tokenizer.py`` (a copy of
:mod:`tritonize.repo_format.tokenizer_encoding`), ``tritonize_batching.py`` (a copy of
:mod:`server.adapters.batching`), ``tokenizer.json`` and ``model.onnx``. The tokenizer's parameters and the ONNX
Runtime thread counts come from ``args["model_config"]``. It runs on the container's Python (3.10/3.12) and
imports numpy, tokenizers, onnxruntime and those two files only.
"""

from __future__ import annotations

import json
import os

import onnxruntime as ort

try:  # Present only inside Triton's Python backend.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - imported from the source tree
    pb_utils = None

try:  # Beside this file in the served version folder.
    import tritonize_batching as batching
    import tritonize_tokenizer as encoding
except ImportError:  # pragma: no cover - imported from the source tree
    from server.adapters import batching
    from tritonize.repo_format import tokenizer_encoding as encoding

#: The ONNX model beside this file.
ONNX_FILENAME = "model.onnx"


class TritonPythonModel:
    """Tokenize every request, run equally shaped requests together in one session run, answer each."""

    def initialize(self, args: dict) -> None:
        """Load the tokenizer and the ONNX Runtime session once; names and dtypes come from the config."""
        config = json.loads(args["model_config"])
        parameters = batching.parameters_of(config)
        folder = os.path.join(args["model_repository"], args["model_version"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = batching.thread_count(parameters, "intra_op_thread_count")
        options.inter_op_num_threads = batching.thread_count(parameters, "inter_op_thread_count")
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(os.path.join(folder, ONNX_FILENAME), options,
                                            providers=["CPUExecutionProvider"])
        declared = [(o["name"], pb_utils.triton_string_to_numpy(o["data_type"])) for o in config["output"]]
        self.outputs = [(name, dtype) for name, dtype in declared if name != encoding.TOKEN_COUNT_OUTPUT]
        self.count_output = next((item for item in declared if item[0] == encoding.TOKEN_COUNT_OUTPUT), None)
        self.text_inputs = [item["name"] for item in config["input"] if item["name"] != encoding.PROMPT_NAME_INPUT]
        self.pairs = self.text_inputs == list(encoding.PAIR_INPUTS)
        self.encoder = encoding.TextEncoder.with_parameters(
            encoding.Tokenizer.from_file(os.path.join(folder, encoding.TOKENIZER_FILENAME)),
            [node.name for node in self.session.get_inputs()], encoding.TokenizerParameters.from_strings(parameters))

    def _texts(self, request: object) -> list:
        """The request's texts (prompt prepended) or pairs, as the tokenizer model reads them.

        Raises:
            TextError: Invalid UTF-8, an empty text, unequal pairs or an unknown prompt (naming the item).
        """
        given = [pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.text_inputs]
        if self.pairs:  # Pairs take no prompt, as sentence-transformers' CrossEncoder.
            return encoding.decode_pairs(*given)
        texts = encoding.decode_texts(given[0], self.text_inputs[0])
        prompts = pb_utils.get_input_tensor_by_name(request, encoding.PROMPT_NAME_INPUT)
        return self.encoder.with_prompts(texts, encoding.prompt_names(None if prompts is None else prompts.as_numpy(),
                                                                      len(texts)))

    def execute(self, requests: list) -> list:
        """One tokenizer call for all requests, one session run per group of equal token shapes."""
        texts_per_request: list[list] = []
        responses: list = [None] * len(requests)
        for index, request in enumerate(requests):
            try:
                texts_per_request.append(self._texts(request))
            except encoding.TextError as error:  # INVALID_ARG: the caller's mistake, HTTP 400
                texts_per_request.append([])
                responses[index] = pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG))
        flat = [text for texts in texts_per_request for text in texts]
        encodings = iter(self.encoder.tokenizer.encode_batch(flat)) if flat else iter(())
        encoded = {index: [next(encodings) for _ in texts] for index, texts in enumerate(texts_per_request) if texts}
        asked = ({index: set(requests[index].requested_output_names()) for index in encoded}
                 if self.count_output is not None else {})  # only token_count is optional
        counts = self._token_counts(asked, encoded)
        names = [name for name, _ in self.outputs]
        for index in counts:  # asked for token counts only (a client sorting texts by length): no model run
            if not asked[index].intersection(names):
                responses[index] = pb_utils.InferenceResponse(output_tensors=[counts[index]])
        feeds = {index: self.encoder.pad(items) for index, items in encoded.items() if responses[index] is None}
        order = list(feeds)
        for positions in batching.group_by_shape([feeds[i] for i in order]):
            group = [order[p] for p in positions]
            try:
                feed, sizes = batching.merge(feeds, group)
                parts = batching.split(dict(zip(names, self.session.run(names, feed))), sizes)
            except Exception as error:  # noqa: BLE001 - answer these requests with the error, serve the others
                for index in group:
                    responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error)))
                continue
            for index, part in zip(group, parts):
                tensors = [pb_utils.Tensor(name, part[name].astype(dtype, copy=False)) for name, dtype in self.outputs]
                if index in counts:
                    tensors.append(counts[index])
                responses[index] = pb_utils.InferenceResponse(output_tensors=tensors)
        return responses

    def _token_counts(self, asked: dict[int, set[str]], encoded: dict[int, list]) -> dict[int, object]:
        """The ``token_count`` tensor (``[n, 1]``) of each request that asks for it, by request index.

        ``asked``: the outputs each request names.
        """
        if self.count_output is None:
            return {}
        name, dtype = self.count_output
        return {index: pb_utils.Tensor(name, encoding.token_counts(items).astype(dtype).reshape(-1, 1))
                for index, items in encoded.items() if name in asked[index]}
