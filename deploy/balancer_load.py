"""Bounded closed-loop load through the balancer, counting every request and failure per phase."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import tritonclient.http as httpclient


@dataclass
class PhaseCount:
    """What one phase of the load saw.

    Attributes:
        requests: Requests sent.
        failed: Requests that did not return a result (any error; the load itself never retries).
        errors: Failure messages and how often each occurred.
        latencies_ms: Latency of each successful request.
    """

    requests: int = 0
    failed: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        """Latency percentile ``q`` (0–100) in ms; NaN without successful requests."""
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


class Load:
    """``workers`` threads sending ``text`` to ``model`` at ``url`` back to back, until stopped or bounded.

    Each worker has its own connection and sends one request at a time; no request is retried by the client,
    so every failure the balancer did not absorb is counted. The load stops by itself after ``max_seconds``
    or ``max_requests``, whichever comes first.
    """

    def __init__(self, url: str, model: str, text: str = "hello world, triton serves many models", workers: int = 4,
                 max_seconds: float = 300.0, max_requests: int = 200_000, timeout_s: float = 30.0) -> None:
        self.url = url
        self.model = model
        self.text = text
        self.workers = workers
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.timeout_s = timeout_s
        self.phases: dict[str, PhaseCount] = {}
        self._phase = "start"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sent = 0
        self._inputs = self._request_inputs()

    def _request_inputs(self) -> list[httpclient.InferInput]:
        """The model's text input from its metadata, batch 1."""
        client = httpclient.InferenceServerClient(self.url, connection_timeout=self.timeout_s,
                                                  network_timeout=self.timeout_s)
        try:
            (spec,) = client.get_model_metadata(self.model)["inputs"]
        finally:
            client.close()
        shape = [1 if d < 0 else d for d in spec["shape"]]
        tensor = httpclient.InferInput(spec["name"], shape, spec["datatype"])
        tensor.set_data_from_numpy(np.full(shape, self.text.encode(), dtype=np.object_))
        return [tensor]

    def phase(self, name: str) -> None:
        """Count the requests from now on under ``name``."""
        with self._lock:
            self._phase = name
            self.phases.setdefault(name, PhaseCount())

    def start(self, phase: str = "load") -> Load:
        """Start the workers."""
        self.phase(phase)
        deadline = time.monotonic() + self.max_seconds
        self._threads = [threading.Thread(target=self._work, args=(deadline,), name=f"load-{i}", daemon=True)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> dict[str, PhaseCount]:
        """Stop the workers (each finishes its request); return the counts per phase."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return self.phases

    @property
    def total(self) -> PhaseCount:
        """All phases together."""
        total = PhaseCount()
        with self._lock:
            for count in self.phases.values():
                total.requests += count.requests
                total.failed += count.failed
                total.errors.update(count.errors)
                total.latencies_ms += count.latencies_ms
        return total

    def _work(self, deadline: float) -> None:
        client = httpclient.InferenceServerClient(self.url, connection_timeout=self.timeout_s,
                                                  network_timeout=self.timeout_s)
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                with self._lock:
                    if self._sent >= self.max_requests:
                        return
                    self._sent += 1
                began = time.perf_counter()
                error = None
                try:
                    client.infer(self.model, self._inputs)
                except Exception as failure:  # noqa: BLE001 - every failure is counted, whatever it is
                    error = f"{type(failure).__name__}: {str(failure)[:120]}"
                elapsed_ms = (time.perf_counter() - began) * 1000
                with self._lock:
                    count = self.phases[self._phase]
                    count.requests += 1
                    if error is None:
                        count.latencies_ms.append(elapsed_ms)
                    else:
                        count.failed += 1
                        count.errors[error] += 1
                if error is not None:  # a broken connection: open a fresh one
                    client.close()
                    client = httpclient.InferenceServerClient(self.url, connection_timeout=self.timeout_s,
                                                              network_timeout=self.timeout_s)
        finally:
            client.close()
