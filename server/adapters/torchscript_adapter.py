"""Triton Python-backend model that serves a TorchScript model with torch.jit, as Triton's libtorch backend does.

``python -m server`` writes this file as ``model.py`` into each version folder of a model whose config says
``platform: "pytorch_libtorch"``: the bundled Triton has only the Python backend. The model keeps its name,
tensors, batching and versions; the artifact (``model.pt``) is the user's file.

Naming follows the libtorch backend: an input named like an argument of ``forward`` feeds that argument, one
named ``<name>__<index>`` feeds the argument at ``index``; an output named ``<name>__<index>`` is element
``index`` of the returned tuple, other outputs follow the config's order. One module per instance, loaded
once; the whole dynamic batch runs in one call. Imports numpy and torch only and parses on Python 3.10.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings

import numpy as np
import torch

try:  # Present only inside Triton's Python backend.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - imported by tests
    pb_utils = None

try:  # Beside this file in the served version folder.
    import tritonize_batching as batching
except ImportError:  # pragma: no cover - imported from the source tree
    from server.adapters import batching

ARTIFACT_PARAMETER = "tritonize_artifact"
#: Triton's pytorch backend's thread parameters (``tritonize.repo_format.platforms``; a test keeps them equal).
THREAD_PARAMETERS = ("INTRA_OP_THREAD_COUNT", "INTER_OP_THREAD_COUNT")
#: ``tritonize.repo_format.platforms.LIBTORCH_NAME``, restated: this file runs alone in the stub (a test keeps
#: them equal).
_INDEXED = re.compile(r"^(?P<base>.+)__(?P<index>\d+)$")

# Triton's input buffers are read-only; the module never writes its inputs, so sharing them is safe.
warnings.filterwarnings("ignore", message="The given NumPy array is not writable")


def argument_names(module: torch.jit.ScriptModule) -> list[str]:
    """Names of ``forward``'s arguments, without ``self``."""
    return [argument.name for argument in module.forward.schema.arguments][1:]


def bind_inputs(input_names: list[str], arguments: list[str]) -> dict[str, str]:
    """Config input name → ``forward`` argument it feeds (by name, else by the ``__<index>`` suffix).

    Raises:
        ValueError: An input matches no argument, or an argument gets no input.
    """
    bound = {}
    for name in input_names:
        match = _INDEXED.match(name)
        if name in arguments:
            bound[name] = name
        elif match and int(match["index"]) < len(arguments):
            bound[name] = arguments[int(match["index"])]
        else:
            raise ValueError(f"config input '{name}' is neither an argument of forward({', '.join(arguments)}) "
                             f"nor named <name>__<index>")
    unfed = [argument for argument in arguments if argument not in bound.values()]
    if unfed:
        raise ValueError(f"forward() needs arguments the config does not declare: {', '.join(unfed)}")
    return bound


def output_indices(output_names: list[str]) -> dict[str, int]:
    """Config output name → position in the returned tuple (``__<index>`` suffix, else config order)."""
    return {name: int(m["index"]) if (m := _INDEXED.match(name)) else position
            for position, name in enumerate(output_names)}


class TritonPythonModel:
    """A model of platform ``pytorch_libtorch`` on the Python backend."""

    def initialize(self, args: dict) -> None:
        """Load the module once, size torch's thread pools and bind the config's tensors."""
        config = json.loads(args["model_config"])
        parameters = batching.parameters_of(config)
        self.batching = int(config.get("max_batch_size", 0)) > 0
        intra, inter = (batching.thread_count(parameters, key) for key in THREAD_PARAMETERS)
        if intra > 0:  # 0: libtorch's default, as Triton's pytorch backend leaves it
            torch.set_num_threads(intra)
        if inter > 0:
            with contextlib.suppress(RuntimeError):  # already set in this process
                torch.set_num_interop_threads(inter)
        gpu = args.get("model_instance_kind") == "GPU" and torch.cuda.is_available()
        self.device = torch.device(f"cuda:{int(args.get('model_instance_device_id', 0))}" if gpu else "cpu")
        artifact = parameters.get(ARTIFACT_PARAMETER) or "model.pt"
        path = os.path.join(args["model_repository"], args["model_version"], artifact)
        self.module = torch.jit.load(path, map_location=self.device).eval()
        self.input_names = [tensor["name"] for tensor in config["input"]]
        self.arguments = bind_inputs(self.input_names, argument_names(self.module))
        self.outputs = [(tensor["name"], pb_utils.triton_string_to_numpy(tensor["data_type"]))
                        for tensor in config["output"]]
        self.indices = output_indices([name for name, _ in self.outputs])

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call ``forward`` on one (batched) feed; return the config's outputs as numpy arrays."""
        kwargs = {self.arguments[name]: torch.from_numpy(array).to(self.device) for name, array in feed.items()}
        with torch.inference_mode():
            result = self.module(**kwargs)
        results = result if isinstance(result, (tuple, list)) else (result,)
        outputs = {}
        for name, dtype in self.outputs:
            array = np.ascontiguousarray(results[self.indices[name]].detach().cpu().numpy())
            outputs[name] = array if array.dtype == dtype else array.astype(dtype)
        return outputs

    def execute(self, requests: list) -> list:
        """One ``forward`` call per group of equally shaped requests (see ``tritonize_batching.execute``)."""
        return batching.execute(requests, self.input_names, [name for name, _ in self.outputs], self.batching,
                                self.run, pb_utils)

    def finalize(self) -> None:
        """Release the module."""
        self.module = None
