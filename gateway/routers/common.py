"""What every router uses: the app's parts, the API-key check, and orjson responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Header, Request
from fastapi.responses import Response

from gateway.auth import check_bearer
from gateway.metrics import GatewayMetrics
from gateway.served import ServedModels
from gateway.settings import GatewaySettings
from gateway.tokens import TokenCounter
from gateway.triton import TritonEngine


@dataclass(frozen=True)
class Parts:
    """The gateway's long-lived parts, kept on ``app.state.parts``.

    Attributes:
        settings: Limits and keys.
        engine: The connection to Triton.
        served: The served models.
        counter: Counts tokens for ``usage``.
        metrics: Prometheus metrics.
    """

    settings: GatewaySettings
    engine: TritonEngine
    served: ServedModels
    counter: TokenCounter
    metrics: GatewayMetrics


def parts(request: Request) -> Parts:
    """The app's parts."""
    return request.app.state.parts


async def require_key(request: Request, authorization: str | None = Header(default=None)) -> None:
    """FastAPI dependency: the bearer-token check of :func:`gateway.auth.check_bearer`."""
    check_bearer(authorization, parts(request).settings.api_keys)


def json_response(body: Any, status_code: int = 200) -> Response:
    """A JSON answer rendered by orjson (numpy float32 arrays as the shortest exact decimal)."""
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status_code,
                    media_type="application/json")


def count_inputs(request: Request, route: str, model: str, count: int) -> None:
    """Label the request with its model (for the latency and request metrics) and count its inputs."""
    request.state.model = model
    parts(request).metrics.inputs.labels(route, model).inc(count)
