"""The FastAPI app: routers, error handlers in OpenAI's error shape, metrics, and the Triton connection's life."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from gateway.errors import GatewayError, error_body
from gateway.metrics import GatewayMetrics, MetricsMiddleware
from gateway.routers import embeddings, health, models, rerank
from gateway.routers.common import Parts, json_response
from gateway.served import ServedModels
from gateway.settings import GatewaySettings
from gateway.tokens import TokenCounter
from gateway.triton import TritonEngine

log = logging.getLogger("gateway")


def create_app(settings: GatewaySettings) -> FastAPI:
    """The gateway app for ``settings``; it connects to Triton when it starts serving."""
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = TritonEngine(settings.triton_url, settings.timeout_s)
        served = ServedModels(engine)
        app.state.parts = Parts(settings, engine, served, TokenCounter(engine, settings.repository), metrics)
        if not settings.api_keys:
            log.warning("No API keys configured: the gateway is open to anyone who can reach it")
        try:
            found = await served.refresh()
            log.info("Triton at %s serves %d ensembles: %s", settings.triton_url, len(found),
                     ", ".join(f"{m.name} ({m.task})" for m in found.values()) or "none yet")
        except GatewayError as error:
            log.warning("Triton at %s is not reachable yet (%s); /health answers 503 until it is",
                        settings.triton_url, error.message)
        try:
            yield
        finally:
            await engine.close()

    app = FastAPI(title="tritonize gateway", version="1", lifespan=lifespan)
    for router in (embeddings.router, models.router, rerank.router, health.router):
        app.include_router(router)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


#: Extra headers per status: the auth scheme with a 401, a retry hint with a 503 (Triton overloaded or down).
_ERROR_HEADERS = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}


async def _gateway_error(request: Request, error: GatewayError) -> Response:
    response = json_response(error.body(), error.status)
    response.headers.update(_ERROR_HEADERS.get(error.status, {}))
    return response


async def _validation_error(request: Request, error: RequestValidationError) -> Response:
    """FastAPI's 422 as OpenAI's 400: the first problem, with the field it is in."""
    problems = error.errors()
    first = problems[0] if problems else {"loc": (), "msg": "Invalid request"}
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = loc[0] if loc else None
    where = ".".join(loc)
    message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    if first.get("type") == "json_invalid" or (not loc and "JSON" in message):
        message = f"The body is not valid JSON: {first.get('msg')}"
    return json_response(error_body(message, "invalid_request_error", param, "invalid_value"), 400)


async def _http_error(request: Request, error: HTTPException) -> Response:
    """Starlette's own answers (unknown route 404, wrong method 405) in the same shape."""
    return json_response(error_body(str(error.detail), "invalid_request_error", None, None), error.status_code)


async def _unexpected_error(request: Request, error: Exception) -> Response:
    """A bug: logged with its stack trace, answered without one."""
    log.error("Unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return json_response(error_body("Internal error in the gateway", "server_error", None, "internal_error"), 500)
