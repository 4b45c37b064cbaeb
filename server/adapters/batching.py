"""The adapters' one execute loop: merge Triton's requests into runs as the real backends do, answer each.

Copied as ``tritonize_batching.py`` beside each adapter's ``model.py``. Imports numpy only and parses on
Python 3.10 (the Triton container's Python).

Like Triton's onnxruntime and pytorch backends, requests of equal input shapes (after the batch axis) run
together and nothing else: no padding, no reordering. Triton's dynamic batcher only sends requests of equal
shapes together unless a config allows ragged batches, which tritonize never writes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def group_by_shape(inputs: list[dict[str, np.ndarray]]) -> list[list[int]]:
    """Indices of the requests that can run together: equal input names and shapes after the batch axis.

    Triton's dynamic batcher already gathers requests of equal shapes, so this is one group in practice;
    requests that differ (another sequence length) form groups of their own, in arrival order.
    """
    groups: dict[tuple, list[int]] = {}
    for index, arrays in enumerate(inputs):
        key = tuple((name, array.shape[1:]) for name, array in arrays.items())
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def merge(inputs: list[dict[str, np.ndarray]], indices: list[int]) -> tuple[dict[str, np.ndarray], list[int]]:
    """Concatenate the requests ``indices`` along the batch axis; return the feed and each request's rows.

    A single request is passed through without a copy.
    """
    first = inputs[indices[0]]
    sizes = [next(iter(inputs[i].values())).shape[0] for i in indices] if first else [0] * len(indices)
    if len(indices) == 1:
        return first, sizes
    return {name: np.concatenate([inputs[i][name] for i in indices]) for name in first}, sizes


def split(outputs: dict[str, np.ndarray], sizes: list[int]) -> list[dict[str, np.ndarray]]:
    """Per-request views of a batched run's outputs (no copies).

    Raises:
        ValueError: An output's batch axis does not hold the rows of all requests.
    """
    total = sum(sizes)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise ValueError(f"output '{name}' has shape {list(array.shape)}: its first axis should hold the "
                             f"{total} rows of the batch")
    if len(sizes) == 1:
        return [outputs]
    bounds = np.cumsum(sizes)[:-1]
    parts = {name: np.split(array, bounds) for name, array in outputs.items()}
    return [{name: pieces[k] for name, pieces in parts.items()} for k in range(len(sizes))]


def thread_count(parameters: dict[str, str], key: str) -> int:
    """Threads of one instance's runtime as Triton's backends read them: the parameter ``key``, 0 when unset.

    0 leaves the runtime's default (ONNX Runtime and libtorch: one thread per physical core), for every
    instance: like the container, nothing is divided between instances; set ``--threads-per-instance`` to share
    the cores.
    """
    value = parameters.get(key, "").strip()
    return int(value) if value.isdigit() else 0


def execute(requests: list, input_names: list[str], output_names: list[str], batching_on: bool,
            run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], pb_utils: object) -> list:
    """Answer Triton's ``requests``: one ``run`` per group of equally shaped requests.

    Each request runs alone when the model does not batch; a failing run answers its own requests with the
    error and no others.

    Args:
        requests: The requests of one ``execute`` call.
        input_names: The config's inputs.
        output_names: The config's outputs, in the order ``run`` returns them.
        batching_on: ``max_batch_size > 0``.
        run: One runtime call on a (merged) feed: input name → array in, output name → array out.
        pb_utils: ``triton_python_backend_utils``.
    """
    arrays = []
    for request in requests:
        tensors = {name: pb_utils.get_input_tensor_by_name(request, name) for name in input_names}
        arrays.append({name: tensor.as_numpy() for name, tensor in tensors.items() if tensor is not None})
    groups = group_by_shape(arrays) if batching_on else [[i] for i in range(len(requests))]
    responses: list = [None] * len(requests)
    for group in groups:
        try:
            feed, sizes = merge(arrays, group)
            results = run(feed)
            parts = split(results, sizes) if batching_on else [results]
        except Exception as error:  # answer these requests with the error, serve the others
            for index in group:
                responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error)))
            continue
        for index, part in zip(group, parts):
            tensors = [pb_utils.Tensor(name, part[name]) for name in output_names]
            responses[index] = pb_utils.InferenceResponse(output_tensors=tensors)
    return responses


def parameters_of(config: dict) -> dict[str, str]:
    """A model config's ``parameters`` as plain strings."""
    return {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
