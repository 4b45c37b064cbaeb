"""Triton Python-backend model for the hop A/B: texts in, the ONNX model's outputs out, in ONE step.

The candidate lever (b) of issue 31: the tokenizer model and the ONNX Runtime session in one Python-backend
model instead of an ensemble of two, so a request crosses one model hop (one stub transport, no ensemble
scheduling) instead of two. :mod:`benchmarks.fused_repository` copies this file as ``model.py`` beside
``tritonize_tokenizer.py``, ``tritonize_batching.py``, ``tokenizer.json`` and ``model.onnx``. The tokenizer's
parameters and the ONNX Runtime thread count come from ``args["model_config"]``, as the exporter writes them for
the two models it replaces. Imports numpy, tokenizers and onnxruntime only.
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


class TritonPythonModel:
    """Tokenize every request, run equally shaped requests together in one session run, answer each."""

    def initialize(self, args: dict) -> None:
        """Load the tokenizer and the ONNX Runtime session once."""
        config = json.loads(args["model_config"])
        parameters = batching.parameters_of(config)
        folder = os.path.join(args["model_repository"], args["model_version"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = batching.thread_count(parameters, "intra_op_thread_count")
        options.inter_op_num_threads = batching.thread_count(parameters, "inter_op_thread_count")
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(os.path.join(folder, "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])
        self.token_names = [node.name for node in self.session.get_inputs()]
        self.outputs = [(o["name"], pb_utils.triton_string_to_numpy(o["data_type"])) for o in config["output"]]
        self.text_input = config["input"][0]["name"]
        self.encoder = encoding.TextEncoder.with_parameters(
            encoding.Tokenizer.from_file(os.path.join(folder, encoding.TOKENIZER_FILENAME)), self.token_names,
            encoding.TokenizerParameters.from_strings(parameters))

    def execute(self, requests: list) -> list:
        """One tokenizer call for all requests, one session run per group of equal shapes."""
        texts_per_request: list[list[str]] = []
        responses: list = [None] * len(requests)
        for index, request in enumerate(requests):
            try:
                texts_per_request.append(encoding.decode_texts(
                    pb_utils.get_input_tensor_by_name(request, self.text_input).as_numpy(), self.text_input))
            except encoding.TextError as error:
                texts_per_request.append([])
                responses[index] = pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG))
        encodings = iter(self.encoder.tokenizer.encode_batch([t for texts in texts_per_request for t in texts]))
        feeds = {index: self.encoder.pad([next(encodings) for _ in texts])
                 for index, texts in enumerate(texts_per_request) if texts}
        order = list(feeds)
        names = [name for name, _ in self.outputs]
        for positions in batching.group_by_shape([feeds[i] for i in order]):
            group = [order[p] for p in positions]
            feed, sizes = batching.merge(feeds, group)
            results = dict(zip(names, self.session.run(names, feed)))
            for index, part in zip(group, batching.split(results, sizes)):
                tensors = [pb_utils.Tensor(name, part[name].astype(dtype, copy=False)) for name, dtype in self.outputs]
                responses[index] = pb_utils.InferenceResponse(output_tensors=tensors)
        return responses
