"""How the adapters run a dynamic batch: merge Triton's requests into one run, split the outputs per request.

Copied as ``tritonize_batching.py`` beside each adapter's ``model.py``. Imports numpy only and parses on
Python 3.10 (the Triton container's Python).
"""

from __future__ import annotations

import os

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
