"""``GET /v1/models`` and ``/v1/models/{id}``: the served ensembles and their task."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway.catalog import split_alias
from gateway.routers.common import json_response, parts, require_key

router = APIRouter(dependencies=[Depends(require_key)])


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    """Every ready ensemble, with its task, batch size, width and prompts."""
    models = await parts(request).served.refresh()
    return json_response({"object": "list", "data": [m.to_record() for m in sorted(models.values(),
                                                                                    key=lambda m: m.name)]})


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, request: Request) -> Response:
    """One ensemble (``NAME:prompt`` aliases name their model)."""
    model = await parts(request).served.get(split_alias(model_id)[0])
    return json_response(model.to_record())
