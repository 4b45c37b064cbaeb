"""Triton Python-backend model that serves an ONNX model with ONNX Runtime, as Triton's onnxruntime backend does.

``python -m server`` writes this file as ``model.py`` into each version folder of a model whose config says
``platform: "onnxruntime_onnx"``: the bundled Triton has only the Python backend. The model keeps its name,
tensors, batching and versions; the artifact (``model.onnx``, external data beside it) is the user's file.

One ONNX Runtime session per instance, created once; a dynamic batch runs in as few ``session.run`` calls as
its shapes allow: equal shapes batch, nothing else (see ``tritonize_batching``).
Imports numpy and onnxruntime only and parses on Python 3.10.
"""

from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort

try:  # Present only inside Triton's Python backend.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - imported by tests
    pb_utils = None

try:  # Beside this file in the served version folder.
    import tritonize_batching as batching
except ImportError:  # pragma: no cover - imported from the source tree
    from server.adapters import batching

ARTIFACT_PARAMETER = "tritonize_artifact"
#: Triton's onnxruntime backend's thread parameters (``tritonize.repo_format.platforms``; a test keeps them equal).
THREAD_PARAMETERS = ("intra_op_thread_count", "inter_op_thread_count")

#: ONNX Runtime's type names → numpy dtypes.
ORT_DTYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_, "tensor(string)": np.object_,
}


def create_session(path: str, intra_op_threads: int, inter_op_threads: int, device_id: int | None
                   ) -> ort.InferenceSession:
    """An ONNX Runtime session on CPU, or on CUDA device ``device_id`` when given and available."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads sleep instead of spinning: the tokenizer, Triton and other instances share these CPUs
    # (MiniLM fp32 served on 2 cores: 158 → 200 texts/s at concurrency 16).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers: list = ["CPUExecutionProvider"]
    if device_id is not None and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device_id}))
    return ort.InferenceSession(path, options, providers=providers)


def check_interface(session: ort.InferenceSession, inputs: list, outputs: list, batching_on: bool,
                    artifact: str) -> None:
    """Refuse a config whose tensors the graph does not have, as Triton's onnxruntime backend does.

    Args:
        session: The loaded graph.
        inputs: ``(name, numpy dtype, dims)`` of the config's inputs.
        outputs: The same for its outputs.
        batching_on: ``max_batch_size > 0``: the graph's first axis is the batch.
        artifact: File name, for messages.

    Raises:
        ValueError: A name, dtype or shape disagrees.
    """
    graph_inputs = {node.name: node for node in session.get_inputs()}
    graph_outputs = {node.name: node for node in session.get_outputs()}
    config_inputs = {name for name, _, _ in inputs}
    missing = sorted(set(graph_inputs) - config_inputs)
    if missing:
        raise ValueError(f"{artifact} needs inputs the config does not declare: {', '.join(missing)}")
    for kind, tensors, graph in (("input", inputs, graph_inputs), ("output", outputs, graph_outputs)):
        for name, dtype, dims in tensors:
            node = graph.get(name)
            if node is None:
                raise ValueError(f"config {kind} '{name}' is not an {kind} of {artifact} "
                                 f"(it has: {', '.join(graph)})")
            graph_dtype = ORT_DTYPES.get(node.type)
            if graph_dtype is not None and np.dtype(graph_dtype) != np.dtype(dtype):
                raise ValueError(f"config {kind} '{name}' is {np.dtype(dtype).name} but {artifact} has "
                                 f"{np.dtype(graph_dtype).name}")
            shape = list(node.shape)[1:] if batching_on else list(node.shape)
            fixed = [d if isinstance(d, int) and d >= 0 else -1 for d in shape]
            if len(fixed) != len(dims) or any(c != -1 and g != -1 and c != g for c, g in zip(dims, fixed)):
                raise ValueError(f"config {kind} '{name}' has dims {dims} but {artifact} has {fixed}"
                                 + (" after the batch axis" if batching_on else ""))


class TritonPythonModel:
    """A model of platform ``onnxruntime_onnx`` on the Python backend."""

    def initialize(self, args: dict) -> None:
        """Create the session once and check the config against the graph."""
        config = json.loads(args["model_config"])
        parameters = batching.parameters_of(config)
        self.batching = int(config.get("max_batch_size", 0)) > 0
        inputs = [(t["name"], pb_utils.triton_string_to_numpy(t["data_type"]), [int(d) for d in t["dims"]])
                  for t in config["input"]]
        outputs = [(t["name"], pb_utils.triton_string_to_numpy(t["data_type"]), [int(d) for d in t["dims"]])
                   for t in config["output"]]
        self.input_names = [name for name, _, _ in inputs]
        self.output_names = [name for name, _, _ in outputs]
        artifact = parameters.get(ARTIFACT_PARAMETER) or "model.onnx"
        path = os.path.join(args["model_repository"], args["model_version"], artifact)
        gpu = args.get("model_instance_kind") == "GPU"
        self.session = create_session(
            path,
            *(batching.thread_count(parameters, key) for key in THREAD_PARAMETERS),
            int(args.get("model_instance_device_id", 0)) if gpu else None,
        )
        check_interface(self.session, inputs, outputs, self.batching, artifact)

    def execute(self, requests: list) -> list:
        """One session run per group of equally shaped requests (see ``tritonize_batching.execute``)."""
        return batching.execute(requests, self.input_names, self.output_names, self.batching, self.run, pb_utils)

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One session run on a (merged) feed."""
        return dict(zip(self.output_names, self.session.run(self.output_names, feed)))

    def finalize(self) -> None:
        """Release the session."""
        self.session = None
