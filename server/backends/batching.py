"""How the adapters run a dynamic batch: merge Triton's requests into one run, split the outputs per request.

Copied as ``tritonize_batching.py`` beside each adapter's ``model.py``. Imports numpy only and parses on
Python 3.10 (the Triton container's Python).

Token models (integer ``[-1]`` inputs with an ``attention_mask``) get length-aware batching: requests of
different lengths (the batcher sends them together when the inputs allow ragged batches) are sorted by
length and cut into runs where padding the shorter ones costs less than another run; padded positions are
masked, and per-token outputs are cut back to each request's own length.
"""

from __future__ import annotations

import os

import numpy as np

#: What one extra run costs, in padded tokens. ONNX Runtime on one CPU thread spends ~2 ms per run of MiniLM
#: beyond ~0.2 ms per token (fp32; int8: ~0.7 ms and ~0.08 ms), and more when instances share the caches;
#: served on 2 cores, 16 beat 8 by a few percent and padding everything to the longest (no cuts) lost 20 %.
RUN_COST_TOKENS = 16.0
#: The input whose zeros mark padding.
MASK_INPUT = "attention_mask"


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


def paddable(config: dict) -> bool:
    """Whether requests of different lengths may be padded into one run.

    True for a batching model whose inputs are all integer token sequences (dims ``[-1]``), one of them an
    attention mask that hides the padding.
    """
    inputs = config.get("input", [])
    return (int(config.get("max_batch_size", 0)) > 0 and any(t["name"] == MASK_INPUT for t in inputs)
            and all([int(d) for d in t.get("dims", [])] == [-1] and t.get("data_type") in ("TYPE_INT64", "TYPE_INT32")
                    for t in inputs))


def sequence_outputs(config: dict) -> list[str]:
    """Outputs whose first axis after the batch is the token sequence (variable dims ``[-1, ...]``)."""
    return [t["name"] for t in config.get("output", []) if [int(d) for d in t.get("dims", [])][:1] == [-1]]


def length_groups(widths: list[int], rows: list[int], max_rows: int, run_cost: float = RUN_COST_TOKENS
                  ) -> list[list[int]]:
    """Indices of the requests to run together, each run padded to its longest request.

    Requests are sorted by width (tokens) and the sorted list is cut where it is cheapest overall: a run
    costs ``run_cost`` plus its rows times its width (dynamic programming, exact for this cost). A run holds
    at most ``max_rows`` rows unless one request alone has more.
    """
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    best = [0.0] + [float("inf")] * len(order)
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        width, count = widths[order[end - 1]], 0
        for start in range(end - 1, -1, -1):
            count += rows[order[start]]
            if count > max_rows and start < end - 1:
                break
            cost = best[start] + run_cost + count * width
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], len(order)
    while end > 0:
        groups.append(order[cut[end]:end])
        end = cut[end]
    return groups[::-1]


def pad_merge(inputs: list[dict[str, np.ndarray]], indices: list[int]) -> tuple[dict[str, np.ndarray], list[int]]:
    """Like :func:`merge`, padding every request with zeros (masked) to the widest of ``indices``."""
    widths = [next(iter(inputs[i].values())).shape[1] for i in indices]
    if len(set(widths)) == 1:
        return merge(inputs, indices)
    width, first = max(widths), inputs[indices[0]]
    sizes = [next(iter(inputs[i].values())).shape[0] for i in indices]
    feed = {name: np.zeros((sum(sizes), width), dtype=array.dtype) for name, array in first.items()}
    row = 0
    for index, size, length in zip(indices, sizes, widths):
        for name, array in inputs[index].items():
            feed[name][row:row + size, :length] = array
        row += size
    return feed, sizes


def trim(part: dict[str, np.ndarray], names: list[str], width: int) -> dict[str, np.ndarray]:
    """Cut the sequence axis of the outputs ``names`` back to a request's own ``width``."""
    return {name: np.ascontiguousarray(array[:, :width]) if name in names and array.shape[1] != width else array
            for name, array in part.items()}


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


def thread_count(parameters: dict[str, str], key: str, config: dict) -> int:
    """Threads for one instance: the config parameter ``key`` when set above 0, else the CPUs shared evenly.

    Every instance is a process of its own, so each gets ``cpus // instances`` (at least 1) instead of all
    of them, which would oversubscribe the machine as soon as two instances run at once.
    """
    value = parameters.get(key, "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    instances = sum(int(group.get("count", 1) or 1) for group in config.get("instance_group", [])) or 1
    return max(1, cpus // instances)


def parameters_of(config: dict) -> dict[str, str]:
    """A model config's ``parameters`` as plain strings."""
    return {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
