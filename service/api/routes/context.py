"""RAG context: a numbered, cited context block within a token budget, or an explicit "nothing relevant"."""

from fastapi import APIRouter, Depends

from service.api.auth import require
from service.api.schemas import ContextRequest, ContextResponse
from service.api.deps import CollectionDep, StateDep
from service.search.context import TokenCounter, build_context

router = APIRouter(prefix="/v1/collections/{name}", tags=["context"])


# the key is checked before the collection is opened (a dependency in the decorator runs first), so an
# unauthorized caller learns nothing about which collections exist
@router.post("/context", response_model=ContextResponse, dependencies=[Depends(require("read"))])
def context(body: ContextRequest, collection: CollectionDep, state: StateDep) -> ContextResponse:
    """Paste `context` into the prompt and cite [n]; when `no_relevant_context` is true, say you don't know."""
    threshold = state.settings.context_score_threshold if body.score_threshold is None else body.score_threshold
    result = state.searcher.relevant(
        collection, body.query, top_k=body.top_k, mode=body.mode, rerank=body.rerank, filter=body.filter,
        score_threshold=threshold,
    )  # fmt: skip
    block = build_context(result.hits, TokenCounter(state.embedder.tokenizer), body.max_tokens)
    return ContextResponse(
        query=result.query, context=block.context, citations=[vars(c) for c in block.citations],
        no_relevant_context=block.no_relevant_context, tokens=block.tokens, max_tokens=body.max_tokens,
        score_threshold=threshold, score_kind=result.score_kind, reranked=result.reranked,
    )  # fmt: skip
