from fastapi import APIRouter, Depends, Request

from service.api.auth import require
from service.api.deps import CollectionDep, StateDep, client_gone
from service.api.schemas import BatchSearchRequest, BatchSearchResponse, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1/collections/{name}", tags=["search"], dependencies=[Depends(require("read"))])


# sync routes run in the threadpool: embedding and reranking never block the event loop
@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, collection: CollectionDep, state: StateDep) -> SearchResponse:
    """Hybrid (dense + BM25), dense or lexical retrieval, reranked when a cross-encoder is loaded."""
    return state.search(collection, body.query, body)


@router.post("/search/batch", response_model=BatchSearchResponse)
def search_batch(body: BatchSearchRequest, collection: CollectionDep, state: StateDep, request: Request) -> BatchSearchResponse:
    """Many queries with the same options; their embeddings are computed in one pass."""
    return state.search_batch(collection, body, cancelled=client_gone(request))

