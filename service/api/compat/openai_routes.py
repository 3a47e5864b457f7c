"""OpenAI-compatible routes: what Open WebUI, LibreChat and any OpenAI SDK call with a base URL and a key.
Errors come back in OpenAI's shape (service.api.compat.errors)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from indexer.collection import Collection
from service.api.compat import openai as openai_compat
from service.api.auth import Principal, require
from service.api.compat.schemas import EmbeddingRequest, OpenAIErrorResponse, VectorStoreSearchRequest, error_responses
from service.api.deps import StateDep, client_gone

router = APIRouter(prefix="/v1", tags=["openai-compatible"], responses=error_responses(OpenAIErrorResponse))
Reader = Annotated[Principal, Depends(require("read"))]


@router.post("/embeddings")
def create_embeddings(body: EmbeddingRequest, state: StateDep, _: Reader) -> dict:
    """OpenAI embeddings: float arrays or base64 float32, with token usage by the embedder's tokenizer."""
    return openai_compat.create_embeddings(state, body.input, body.model, body.encoding_format, body.dimensions)


@router.get("/models")
def list_models(state: StateDep, _: Reader) -> dict:
    """The models this server answers with (the embedder, and the reranker when one is loaded)."""
    return openai_compat.list_models(state)


@router.post("/vector_stores/{collection}/search")
def search_vector_store(collection: str, body: VectorStoreSearchRequest, state: StateDep, _: Reader, request: Request) -> dict:
    """OpenAI vector-store search over a collection: file_id is the doc id, attributes its metadata,
    score a 0..1 relevance (reranker sigmoid, else cosine)."""
    opened: Collection = state.collection(collection)
    return openai_compat.vector_store_search(state, opened, body, cancelled=client_gone(request))
