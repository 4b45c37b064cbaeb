"""One closed-loop HTTP load generator for every server compared: ``concurrency`` clients, one text per request.

Each client (an asyncio task on one aiohttp session) posts a JSON request, waits for the answer, and posts the
next text, until the window ends. Only requests that start after the warm-up and end inside the window count,
so every server is measured on the same footing whatever its own protocol: only the body differs
(:class:`Target`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Target:
    """Where and how to send one text.

    Attributes:
        name: Label in tables.
        url: The endpoint posted to.
        body: The JSON body for one text.
    """

    name: str
    url: str
    body: Callable[[str], dict]


def kserve_target(name: str, base_url: str, model: str, input_name: str = "TEXT",
                  outputs: tuple[str, ...] = ()) -> Target:
    """Triton's KServe v2 JSON inference endpoint of ``model``, one text as a ``[1, 1]`` BYTES tensor.

    ``outputs``: the outputs to ask for (none named: Triton answers every output, a one-step model's
    ``token_count`` included).
    """
    def body(text: str) -> dict:
        request: dict = {"inputs": [{"name": input_name, "shape": [1, 1], "datatype": "BYTES", "data": [text]}]}
        if outputs:
            request["outputs"] = [{"name": output} for output in outputs]
        return request
    return Target(name, f"{_http(base_url)}/v2/models/{model}/infer", body)


def embeddings_target(name: str, base_url: str, model: str = "") -> Target:
    """An OpenAI-style ``/embeddings`` endpoint (infinity-emb, the naive app), one text per request."""
    def body(text: str) -> dict:
        return {"model": model, "input": [text]}
    return Target(name, f"{_http(base_url)}/embeddings", body)


def _http(url: str) -> str:
    """``url`` without a trailing slash, ``http://`` added when it has no scheme (tritonclient's form)."""
    url = url.rstrip("/")
    return url if "://" in url else f"http://{url}"


@dataclass(frozen=True)
class LevelStats:
    """One load level on one server.

    Attributes:
        concurrency: Requests in flight.
        seconds: Measured window.
        answered: Requests answered (HTTP 200) inside the window.
        failed: Requests that failed inside the window.
        p50_ms: Median latency of the answered requests.
        p99_ms: 99th percentile latency.
    """

    concurrency: int
    seconds: float
    answered: int
    failed: int
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_s(self) -> float:
        """Answered requests per second of the window."""
        return self.answered / self.seconds if self.seconds > 0 else 0.0


def measure(target: Target, texts: Sequence[str], concurrency: int, seconds: float,
            warmup_s: float = 1.0) -> LevelStats:
    """Closed-loop load of ``concurrency`` clients for ``warmup_s`` + ``seconds``; only the window counts."""
    return asyncio.run(_measure(target, texts, concurrency, seconds, warmup_s))


async def _measure(target: Target, texts: Sequence[str], concurrency: int, seconds: float,
                   warmup_s: float) -> LevelStats:
    import aiohttp

    bodies = [target.body(text) for text in texts]
    latencies: list[float] = []
    failures = 0
    begin = time.perf_counter() + warmup_s
    end = begin + seconds

    async def client(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal failures
        count = index
        while time.perf_counter() < end:
            body = bodies[count % len(bodies)]
            count += concurrency
            start = time.perf_counter()
            try:
                async with session.post(target.url, json=body) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            finished = time.perf_counter()
            if start >= begin and finished <= end:
                if ok:
                    latencies.append(finished - start)
                else:
                    failures += 1

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session, i) for i in range(concurrency)))
    values = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return LevelStats(concurrency, seconds, len(latencies), failures, float(np.percentile(values, 50)),
                      float(np.percentile(values, 99)))


def post_one(target: Target, text: str) -> dict:
    """The decoded JSON answer to one text (for the correctness check before timing)."""
    async def run() -> dict:
        import aiohttp

        async with aiohttp.ClientSession() as session, session.post(target.url, json=target.body(text)) as response:
            if response.status != 200:
                raise RuntimeError(f"{target.name}: HTTP {response.status}: {(await response.text())[:200]}")
            return await response.json()
    return asyncio.run(run())
