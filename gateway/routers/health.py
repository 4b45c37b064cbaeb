"""``GET /health`` (ready: Triton and the model(s) are), ``/health/live`` (the process runs), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.catalog import EMBEDDING_TASK, RERANK_TASK
from gateway.errors import GatewayError, Unavailable
from gateway.routers.common import json_response, parts

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> Response:
    """200 when Triton is ready and serves the required models (any embedding or rerank model by default)."""
    app = parts(request)
    if not await app.engine.server_ready():
        raise Unavailable(f"Triton at {app.engine.url} is not ready")
    try:
        models = await app.served.refresh()
    except GatewayError as error:
        raise Unavailable(f"Triton at {app.engine.url} did not list its models: {error.message}") from None
    required = app.settings.required_models
    missing = [name for name in required if name not in models]
    if missing:
        raise Unavailable(f"Not ready: {', '.join(missing)}")
    servable = sorted(m.name for m in models.values() if m.task in (EMBEDDING_TASK, RERANK_TASK))
    if not required and not servable:
        raise Unavailable("Triton serves no ready embedding or rerank model")
    return json_response({"status": "ok", "models": servable})


@router.get("/health/live")
async def live() -> Response:
    """200 while the gateway process answers (a liveness probe that does not depend on Triton)."""
    return json_response({"status": "ok"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(parts(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
