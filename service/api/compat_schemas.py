"""Request bodies of the chat-frontend routes: OpenAI embeddings and vector-store search, Cohere/Jina
rerank, and quarry's own context endpoint.

The borrowed formats ignore fields they do not know (frontends send extras such as `user` or
`max_tokens_per_doc`); quarry's own context request is strict like the rest of its API.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.api.schemas import FILTER_HELP, MetadataFilter, Mode, _Strict


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


# OpenAI ----------------------------------------------------------------------------------------
class EmbeddingRequest(_Lenient):
    input: Any = Field(description="a string or an array of strings")
    model: str = Field(description="any name: quarry embeds with its configured embedder and reports which")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, description="only the embedder's own dimension is accepted")
    user: str | None = None


class RankingOptions(_Lenient):
    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: float | None = Field(None, ge=0.0, le=1.0)


class VectorStoreSearchRequest(_Lenient):
    query: str | list[str]
    max_num_results: int = Field(10, ge=1, le=50)
    filters: dict[str, Any] | None = Field(None, description="OpenAI comparison or compound filter on metadata")
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = Field(False, description="accepted and ignored: the query is searched as given")


# Cohere / Jina ---------------------------------------------------------------------------------
class RerankDocument(_Lenient):
    text: str


class RerankRequest(_Lenient):
    model: str | None = Field(None, description="any name: quarry reranks with its configured cross-encoder")
    query: str = Field(min_length=1)
    documents: list[str | RerankDocument] = Field(min_length=1, max_length=1000)
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


# quarry context --------------------------------------------------------------------------------
class ContextRequest(_Strict):
    query: str = Field(min_length=1, max_length=4096, examples=["how do I fix a flat tire"])
    max_tokens: int = Field(1000, ge=16, le=100_000, description="token budget of the context block")
    top_k: int = Field(10, ge=1, le=100, description="most passages considered")
    score_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="least relevance (0..1) a passage needs (default QUARRY_CONTEXT_SCORE_THRESHOLD)"
    )
    filter: MetadataFilter = Field(None, description=FILTER_HELP)
    mode: Mode | None = None
    rerank: bool = True

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is empty: give some words to search for")
        return value



class ContextCitation(BaseModel):
    n: int = Field(description="the number in the block, [n]")
    doc_id: str
    chunk_id: int
    title: str
    source: str
    start: int = Field(description="character offset of the passage in the document")
    end: int
    score: float = Field(description="relevance 0..1")
    heading_path: list[str] = []
    truncated: bool = False
    page: int | None = Field(None, description="PDF page the passage starts on")
    slide: int | None = Field(None, description="slide number, for presentations")


class ContextResponse(BaseModel):
    query: str
    context: str = Field(description="numbered passages, ready to paste into a prompt; empty when none is relevant")
    citations: list[ContextCitation]
    no_relevant_context: bool = Field(description="true when no passage passed the score threshold")
    tokens: int = Field(description="tokens in `context`, by the embedder's tokenizer")
    max_tokens: int
    score_threshold: float
    score_kind: Literal["reranker", "cosine"]
    reranked: bool


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(BaseModel):
    """OpenAI's error body, which the OpenAI-compatible routes answer with."""

    error: OpenAIErrorDetail


class CohereErrorResponse(BaseModel):
    """Cohere's error body, which /v1/rerank answers with."""

    message: str


_ERROR_STATUSES = {
    400: "invalid fields, or a body that is not valid JSON",
    401: "no API key, or an unknown one (keys configured)",
    403: "the API key's scope or collections do not allow this",
    404: "unknown collection",
    409: "the collection was built with another embedder",
    413: "body or batch too large",
    429: "rate limit hit; retry after Retry-After seconds",
    500: "unexpected server error (the server log has details)",
    503: "a model could not be used",
}


def error_responses(model: type[BaseModel]) -> dict[int | str, dict]:
    """The error statuses a compatible route can answer, in its original's shape (for OpenAPI and fuzzing)."""
    return {status: {"model": model, "description": text} for status, text in _ERROR_STATUSES.items()}
