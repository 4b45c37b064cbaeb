"""``POST /v1/embeddings``: OpenAI's embeddings API over a text-embedding ensemble."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway.catalog import EMBEDDING_TASK
from gateway.inputs import check_dimensions, embedding_texts
from gateway.routers.common import count_inputs, json_response, parts, require_key
from gateway.schema import EmbeddingRequest
from gateway.vectors import to_base64, truncate

ROUTE = "/v1/embeddings"
router = APIRouter(dependencies=[Depends(require_key)])


@router.post(ROUTE)
async def create_embeddings(body: EmbeddingRequest, request: Request) -> Response:
    """Embed one text or a list of texts; ``model`` may be ``NAME:prompt`` for prompted models."""
    app = parts(request)
    settings = app.settings
    texts = embedding_texts(body.input, settings.max_inputs, settings.max_text_chars)
    model, prompt = await app.served.resolve(body.model, EMBEDDING_TASK, body.prompt_name)
    count_inputs(request, ROUTE, model.name, len(texts))
    width = check_dimensions(body.dimensions, model.dimensions, model.name)
    in_call = app.counter.in_call(model)  # a one-step model counts in the embeddings call: no extra Triton call
    (vectors, served_tokens), counted = await asyncio.gather(app.engine.embed(model, texts, prompt, in_call),
                                                             app.counter.count(model, texts, prompt))
    tokens = served_tokens if in_call else counted
    vectors = truncate(vectors, width)
    encode = to_base64 if body.encoding_format == "base64" else (lambda row: row)
    data = [{"object": "embedding", "index": i, "embedding": encode(row)} for i, row in enumerate(vectors)]
    usage = {"prompt_tokens": tokens or 0, "total_tokens": tokens or 0}
    return json_response({"object": "list", "data": data, "model": body.model, "usage": usage})
