"""Prometheus metrics of the gateway: requests, inputs and latency by route and model, errors by status."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

#: Latency buckets (seconds): one short text on a CPU takes milliseconds, thousands of texts seconds.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Label of requests that named no (known) model.
NO_MODEL = ""


class GatewayMetrics:
    """The gateway's metrics in their own registry (so several apps in one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("gateway_requests", "Requests answered, by route, model and HTTP status.",
                                ("route", "model", "status"), registry=self.registry)
        self.inputs = Counter("gateway_inputs", "Texts (embeddings) or documents (rerank) received, by route and "
                              "model.", ("route", "model"), registry=self.registry)
        self.latency = Histogram("gateway_request_duration_seconds", "Time to answer a request, by route and model.",
                                 ("route", "model"), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("gateway_errors", "Error answers, by route and HTTP status.", ("route", "status"),
                              registry=self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware timing each HTTP request; routes set ``request.state.model``.

    Args:
        app: The wrapped ASGI app.
        metrics: Where to record.
    """

    def __init__(self, app: Any, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve the request, then record its route, model, status and duration."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            model = str(scope.get("state", {}).get("model", NO_MODEL))
            code = str(status["code"])
            self.metrics.requests.labels(path, model, code).inc()
            self.metrics.latency.labels(path, model).observe(time.perf_counter() - start)
            if status["code"] >= 400:
                self.metrics.errors.labels(path, code).inc()
