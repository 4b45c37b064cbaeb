"""Overload check of a queue policy: closed-loop load far above capacity, answered and refused counted apart.

perf_analyzer stops at the first refused request, so this check sends the user's texts itself: ``concurrency``
threads, each with its own connection and no retries, one text after another for ``seconds``. A thread whose
request was refused waits ``backoff_s`` before its next one, as a client honouring ``Retry-After`` does; without it
the threads would spin on refusals and take the cores from the server they are measuring.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from client.connection import Connection, Endpoint
from client.errors import ClientError


@dataclass(frozen=True)
class OverloadResult:
    """What a burst above capacity did.

    Attributes:
        concurrency: Requests in flight.
        seconds: How long the load ran.
        answered: Requests answered.
        refused: Requests refused (queue full or timed out: 503 / UNAVAILABLE) or failed.
        answered_p99_ms: p99 latency of the answered requests.
        refused_p50_ms: Median time a refused request took to be refused ("at once" when small).
    """

    concurrency: int
    seconds: float
    answered: int
    refused: int
    answered_p99_ms: float
    refused_p50_ms: float

    @property
    def throughput(self) -> float:
        """Answered requests per second."""
        return self.answered / self.seconds if self.seconds > 0 else 0.0


def overload(url: str, model: str, input_name: str, texts: Sequence[str], concurrency: int,
             seconds: float, backoff_s: float = 0.05) -> OverloadResult:
    """Send ``texts`` to ``model`` from ``concurrency`` threads for ``seconds``; count answers and refusals."""
    endpoint = Endpoint.parse(url, retries=0, timeout=max(30.0, seconds * 4))
    stop = threading.Event()
    lock = threading.Lock()
    answered: list[float] = []
    refused: list[float] = []

    def send(index: int) -> None:
        with Connection(endpoint) as connection:
            count = index
            while not stop.is_set():
                text = np.array([[texts[count % len(texts)].encode()]], dtype=object)
                count += concurrency
                began = time.monotonic()
                try:
                    connection.infer(model, [(input_name, "BYTES", text)], [])
                    bucket = answered
                except ClientError:
                    bucket = refused
                with lock:
                    bucket.append((time.monotonic() - began) * 1000)
                if bucket is refused:
                    stop.wait(backoff_s)

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        stop.wait(seconds)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - began
    return OverloadResult(concurrency, elapsed, len(answered), len(refused),
                          float(np.percentile(answered, 99)) if answered else 0.0,
                          float(np.percentile(refused, 50)) if refused else 0.0)
