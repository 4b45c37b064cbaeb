"""``POST /v1/rerank`` and ``/v2/rerank`` (Cohere v2 / Jina shape) and ``POST /rerank`` (TEI's shape)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway.catalog import RERANK_TASK, ServedModel
from gateway.errors import BadRequest
from gateway.inputs import check_query, rerank_documents, top_results
from gateway.routers.common import count_inputs, json_response, parts, require_key
from gateway.schema import RerankRequest, TeiRerankRequest

router = APIRouter(dependencies=[Depends(require_key)])


async def _scores(request: Request, route: str, model: ServedModel, query: str, documents: list) -> list[float]:
    """Scores of the documents for the query, after the checks of query and documents."""
    settings = parts(request).settings
    texts = rerank_documents(documents, settings.max_documents, settings.max_text_chars)
    check_query(query, settings.max_text_chars)
    count_inputs(request, route, model.name, len(texts))
    return [float(s) for s in await parts(request).engine.rerank(model, query, texts)]


@router.post("/v1/rerank")
@router.post("/v2/rerank")
async def rerank(body: RerankRequest, request: Request) -> Response:
    """Documents ranked by relevance to the query, best first (``top_n`` of them)."""
    model, _ = await parts(request).served.resolve(body.model, RERANK_TASK)
    route = request.url.path
    scores = await _scores(request, route, model, body.query, body.documents)
    texts = [d if isinstance(d, str) else d.text for d in body.documents]
    results = []
    for index in top_results(scores, body.top_n):
        result: dict[str, object] = {"index": index, "relevance_score": scores[index]}
        if body.return_documents:
            result["document"] = {"text": texts[index]}
        results.append(result)
    return json_response({"id": str(uuid.uuid4()), "model": model.name, "results": results,
                          "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}})


@router.post("/rerank")
async def tei_rerank(body: TeiRerankRequest, request: Request) -> Response:
    """TEI's rerank: ``[{index, score, text?}]``, best first.

    ``model`` (an extension: TEI serves one model) may be left out when one reranker is served.
    """
    served = parts(request).served
    if body.raw_scores:
        raise BadRequest("raw_scores is not supported: the served scores are the model's activated scores, as "
                         "CrossEncoder.predict returns them", param="raw_scores")
    if body.model is None:
        rerankers = [m for m in (await served.refresh()).values() if m.task == RERANK_TASK]
        if len(rerankers) != 1:
            names = ", ".join(m.name for m in rerankers) or "none"
            raise BadRequest(f"Name the reranker in 'model': {len(rerankers)} are served ({names})", param="model")
        model = rerankers[0]
    else:
        model, _ = await served.resolve(body.model, RERANK_TASK)
    scores = await _scores(request, "/rerank", model, body.query, body.texts)
    return json_response([{"index": i, "score": scores[i], **({"text": body.texts[i]} if body.return_text else {})}
                          for i in top_results(scores, None)])
