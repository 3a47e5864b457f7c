"""Request and error bodies of the borrowed formats: OpenAI embeddings and vector-store search, Cohere/Jina rerank.

They ignore fields they do not know (frontends send extras such as `user` or `max_tokens_per_doc`);
quarry's own requests (service.api.schemas, the context endpoint included) are strict.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
    query: str = Field(min_length=1, max_length=4096, description="at most 4,096 characters, like every search query")
    documents: list[str | RerankDocument] = Field(min_length=1, max_length=1000)
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


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
