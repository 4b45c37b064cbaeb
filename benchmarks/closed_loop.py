"""Closed-loop load on a text ensemble: threads that each send one short text after another, until stopped."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from client.connection import Connection, Endpoint
from client.errors import ClientError

#: Short texts, as an online service receives them.
TEXTS = ("the battery lasts two days", "screen is sharp but the speaker is far too quiet",
         "hello world", "the quick brown fox jumps over the lazy dog", "customer review: five stars")


@dataclass(frozen=True)
class Outcome:
    """One request: when it started and ended (monotonic seconds), and its error (empty when answered)."""

    start: float
    end: float
    error: str = ""
    status: str = ""


@dataclass
class LoadResult:
    """Every request of one load run."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def answered(self) -> list[Outcome]:
        """The requests that got an answer."""
        return [o for o in self.outcomes if not o.error]

    @property
    def failed(self) -> list[Outcome]:
        """The requests that got an error."""
        return [o for o in self.outcomes if o.error]

    def kinds(self) -> str:
        """The failures by kind (``503 queue full ×12, ...``), for a table's notes."""
        labels = {"Exceeds maximum queue size": "503 queue full", "timeout expired": "503 queue timeout",
                  "is not healthy": "dead stub", "Cannot reach": "connection"}
        counts: dict[str, int] = {}
        for outcome in self.failed:
            label = next((v for k, v in labels.items() if k in outcome.error), outcome.error[:60])
            counts[label] = counts.get(label, 0) + 1
        return ", ".join(f"{label} ×{count}" for label, count in sorted(counts.items(), key=lambda i: -i[1]))

    def p99_ms(self) -> float:
        """99th percentile latency of the answered requests, in milliseconds (0 without any)."""
        latencies = [o.end - o.start for o in self.answered]
        return float(np.percentile(latencies, 99) * 1000) if latencies else 0.0

    def throughput(self) -> float:
        """Answered requests per second over the run."""
        if not self.outcomes:
            return 0.0
        span = max(o.end for o in self.outcomes) - min(o.start for o in self.outcomes)
        return len(self.answered) / span if span > 0 else 0.0


class ClosedLoop:
    """``concurrency`` threads sending to ``model`` until :meth:`stop` (or ``limit_s``); a context manager.

    Each thread has its own connection with ``retries`` retries (0: every refusal counts as a failure).
    """

    def __init__(self, url: str, model: str, concurrency: int, retries: int = 0, limit_s: float = 600.0,
                 timeout: float = 60.0) -> None:
        self.result = LoadResult()
        self._endpoint = Endpoint.parse(url, retries=retries, timeout=timeout)
        self._model = model
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._limit = limit_s
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(concurrency)]

    def _run(self, index: int) -> None:
        connection = Connection(self._endpoint)
        deadline = time.monotonic() + self._limit
        count = index
        while not self._stop.is_set() and time.monotonic() < deadline:
            text = np.array([[TEXTS[count % len(TEXTS)].encode()]], dtype=object)
            count += 1
            start = time.monotonic()
            try:
                connection.infer(self._model, [("TEXT", "BYTES", text)], [])
                outcome = Outcome(start, time.monotonic())
            except ClientError as error:
                outcome = Outcome(start, time.monotonic(), str(error) or type(error).__name__,
                                  getattr(error, "status", ""))
            with self._lock:
                self.result.outcomes.append(outcome)
        connection.close()

    def start(self) -> ClosedLoop:
        """Start every thread."""
        for thread in self._threads:
            thread.start()
        return self

    def drop(self) -> None:
        """Tell every thread to stop after its request in flight, without waiting."""
        self._stop.set()

    def stop(self) -> LoadResult:
        """Stop every thread once its request returns; return what they saw."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return self.result

    def __enter__(self) -> ClosedLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_for(url: str, model: str, concurrency: int, seconds: float, retries: int = 0) -> LoadResult:
    """Closed-loop load for ``seconds``."""
    with ClosedLoop(url, model, concurrency, retries) as load:
        time.sleep(seconds)
    return load.result
