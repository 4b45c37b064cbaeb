"""Where a request's time goes inside Triton: per-model queue and compute from the statistics API.

perf_analyzer's top-level numbers for an ensemble do not split out the composing models' queues. Triton's
statistics extension keeps cumulative counters per model; the difference of two snapshots, divided by the
requests that model served in between, gives each step's mean queue and compute time per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NS_PER_MS = 1e6


@dataclass(frozen=True)
class ModelCounters:
    """Triton's cumulative statistics of one model (all versions summed).

    Attributes:
        requests: Successful requests.
        executions: Model executions (batches run).
        queue_ns: Time requests waited in the scheduler's queue.
        compute_ns: Input copy, inference and output copy time, per request summed.
    """

    requests: int = 0
    executions: int = 0
    queue_ns: int = 0
    compute_ns: int = 0

    def __sub__(self, earlier: ModelCounters) -> ModelCounters:
        return ModelCounters(self.requests - earlier.requests, self.executions - earlier.executions,
                             self.queue_ns - earlier.queue_ns, self.compute_ns - earlier.compute_ns)

    @classmethod
    def from_statistics(cls, entries: Iterable[Mapping[str, Any]]) -> ModelCounters:
        """Sum the ``model_stats`` entries of one model, as HTTP or gRPC (``as_json``) returns them."""
        total = cls()
        for entry in entries:
            stats = entry.get("inference_stats", {})
            compute = sum(_ns(stats, part) for part in ("compute_input", "compute_infer", "compute_output"))
            total = ModelCounters(
                total.requests + _count(stats, "success"),
                total.executions + int(entry.get("execution_count", 0) or 0),
                total.queue_ns + _ns(stats, "queue"),
                total.compute_ns + compute,
            )
        return total


@dataclass(frozen=True)
class StageTime:
    """One model's share of a request's latency over a measured interval.

    Attributes:
        model: The model (an ensemble step).
        requests: Requests it served in the interval.
        queue_ms: Mean time a request waited in its queue.
        compute_ms: Mean compute time per request (the batch it ran in).
        mean_batch: Requests per execution: how well its dynamic batcher batched.
    """

    model: str
    requests: int
    queue_ms: float
    compute_ms: float
    mean_batch: float


def stage_times(before: Mapping[str, ModelCounters], after: Mapping[str, ModelCounters]) -> tuple[StageTime, ...]:
    """Per-request means of every model between two snapshots, in the order of ``after``."""
    stages = []
    for model, counters in after.items():
        delta = counters - before.get(model, ModelCounters())
        requests = max(delta.requests, 0)
        per_request = 1 / requests if requests else 0.0
        stages.append(StageTime(
            model=model, requests=requests,
            queue_ms=delta.queue_ns * per_request / NS_PER_MS,
            compute_ms=delta.compute_ns * per_request / NS_PER_MS,
            mean_batch=requests / delta.executions if delta.executions > 0 else 0.0,
        ))
    return tuple(stages)


def _count(stats: Mapping[str, Any], key: str) -> int:
    return int((stats.get(key) or {}).get("count", 0) or 0)


def _ns(stats: Mapping[str, Any], key: str) -> int:
    return int((stats.get(key) or {}).get("ns", 0) or 0)
