"""Cohere v2 / Jina rerank: rank caller-supplied documents with the cross-encoder.
Open WebUI's external reranker sends {model, query, documents, top_n} and reads results[].index and
relevance_score; errors come back in Cohere's {"message"} shape."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from service.api.auth import Principal, require
from service.api.compat.schemas import CohereErrorResponse, RerankRequest, error_responses
from service.api.deps import StateDep
from service.api.errors import ApiError
from service.search.relevance import rerank_texts

router = APIRouter(prefix="/v1", tags=["rerank"], responses=error_responses(CohereErrorResponse))


@router.post("/rerank")
def rerank(body: RerankRequest, state: StateDep, _: Annotated[Principal, Depends(require("read"))]) -> dict:
    """Results sorted by relevance_score (0..1, the sigmoid of the cross-encoder logit), best first."""
    if state.reranker is None:
        reason = state.runtime.reranker_status.reason
        raise ApiError(503, "model_unavailable", f"no reranker is loaded ({reason}); set QUARRY_RERANKER to a CrossEncoder")
    texts = body.texts()
    ranked = rerank_texts(state.reranker, body.query, texts, min(body.top_n or len(texts), len(texts)))
    results = []
    for index, score in ranked:
        result: dict = {"index": index, "relevance_score": score}
        if body.return_documents:
            result["document"] = {"text": texts[index]}
        results.append(result)
    return {
        "id": str(uuid.uuid4()),
        "model": state.settings.reranker,
        "results": results,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    }
