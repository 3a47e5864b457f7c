"""Cohere v2 / Jina rerank: rank caller-supplied documents with the cross-encoder, or with the embedder
(service.search.pair_scoring) when none is loaded; meta.scorer says which answered.
Open WebUI's external reranker sends {model, query, documents, top_n} and reads results[].index and
relevance_score; errors come back in Cohere's {"message"} shape."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from service.api.auth import Principal, require
from service.api.compat.schemas import CohereErrorResponse, RerankRequest, error_responses
from service.api.deps import StateDep

router = APIRouter(prefix="/v1", tags=["rerank"], responses=error_responses(CohereErrorResponse))


@router.post("/rerank")
def rerank(body: RerankRequest, state: StateDep, _: Annotated[Principal, Depends(require("read"))]) -> dict:
    """Results sorted by relevance_score (0..1), best first: the sigmoid of the cross-encoder logit, or without
    a cross-encoder the embedder's cosine (meta.scorer and /health's rerank_scorer say which)."""
    texts = body.texts()
    ranked = state.rank_passages(body.query, texts, min(body.top_n or len(texts), len(texts)))
    results = []
    for index, score in ranked:
        result: dict = {"index": index, "relevance_score": score}
        if body.return_documents:
            result["document"] = {"text": texts[index]}
        results.append(result)
    return {
        "id": str(uuid.uuid4()),
        "model": state.settings.reranker if state.reranker is not None else state.settings.embedder,
        "results": results,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}, "scorer": state.pair_scorer_name},
    }
