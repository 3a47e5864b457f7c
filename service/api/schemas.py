"""Request and response bodies, in families named for what they hold. Validation here gives 422s."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from indexer.documents import MAX_DOC_ID_LENGTH
from indexer.filters import FILTER_HELP, checked_filter
from service.facade import METADATA_HELP, Metadata
from service.search.options import SearchMode



# a metadata filter, checked when the request is parsed (422 with the reason)
MetadataFilter = Annotated[dict[str, Any] | None, AfterValidator(checked_filter)]



class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not silently ignored


# errors ----------------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    type: str = Field(description="machine-readable kind, e.g. collection_not_found, invalid_request")
    message: str = Field(description="what was wrong and how to fix it")
    details: list[dict] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


# health ----------------------------------------------------------------------------------------
class ModelStatus(BaseModel):
    name: str
    loaded: bool
    reason: str = ""
    required: bool = Field(True, description="configured by the operator (a failure degrades the server)")
    device: str | None = None
    dimension: int | None = None


class CollectionCounts(BaseModel):
    name: str
    documents: int
    chunks: int


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="degraded: a model the operator configured could not be loaded (see its reason), or a collection has problems"
    )
    note: str = Field("", description="one line on how this server runs, e.g. why results are not reranked")
    embedder: ModelStatus
    reranker: ModelStatus
    rerank_scorer: str = Field(
        description="what scores POST /v1/rerank: cross-encoder, or embedder (cosine) when none is loaded"
    )
    query_batching: bool
    collections: list[CollectionCounts]
    problems: dict[str, str] = Field(
        default_factory=dict, description="collection -> what is wrong with its database (found at start-up or now)"
    )


# collections -----------------------------------------------------------------------------------
# Documented in the schema (clients and the fuzzer see it); enforced by indexer.catalog.validate_name,
# whose 422 says how to fix the name.
NAME_HELP = "1-64 letters, digits, '-', '_' or '.', starting with a letter or digit; no '..'"
NAME_SCHEMA = {"pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}


class CollectionCreate(_Strict):
    name: str = Field(description=NAME_HELP, examples=["notes"], json_schema_extra=NAME_SCHEMA)
    chunk_size: int | None = Field(None, ge=8, le=8192, description="tokens per chunk (default QUARRY_CHUNK_SIZE)")
    chunk_overlap: int | None = Field(None, ge=0, description="overlap in tokens (default QUARRY_CHUNK_OVERLAP)")


class CollectionInfo(BaseModel):
    name: str
    embedder: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    index_type: str
    created_at: float
    documents: int
    chunks: int


class CollectionList(BaseModel):
    collections: list[CollectionInfo]


# backups ---------------------------------------------------------------------------------------
class SnapshotCreate(_Strict):
    snapshot: str | None = Field(None, description=f"the snapshot's name ({NAME_HELP}); default NAME-<UTC time>")


class SnapshotOut(BaseModel):
    snapshot: str = Field(description="its folder under <data_dir>/snapshots/")
    collection: str
    generation: int
    documents: int
    chunks: int
    created_at: float
    files: dict[str, dict] = Field(description="file -> {sha256, bytes}, checked before a restore")
    format: int


class SnapshotList(BaseModel):
    snapshots: list[SnapshotOut]


class RestoreRequest(_Strict):
    collection: str | None = Field(None, description=f"the new collection's name ({NAME_HELP}); default the snapshot's")


class Deleted(BaseModel):
    deleted: str
    collection: str | None = None


# documents -------------------------------------------------------------------------------------
class DocumentBody(_Strict):
    text: str = Field(description="the document's full text (Markdown headings become heading paths)")
    title: str = ""
    source: str = Field("", description="where it came from, e.g. a URL or path")
    metadata: Metadata = Field(default_factory=dict, description=METADATA_HELP)
    format: Literal["text", "markdown"] = Field("text", description="markdown keeps heading structure for chunking")

    @field_validator("text")
    @classmethod
    def _has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty: a document needs some text to index")
        return value


# Ids are keys in SQLite, never file names; control characters are refused so ids print and log safely.
DOC_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
DOC_ID_HELP = f"1-{MAX_DOC_ID_LENGTH} characters, no control characters; slashes allowed (e.g. guides/bike.md)"


class DocumentIn(DocumentBody):
    doc_id: str = Field(min_length=1, max_length=MAX_DOC_ID_LENGTH, pattern=DOC_ID_PATTERN, description=DOC_ID_HELP)


class DocumentBatch(_Strict):
    documents: list[DocumentIn] = Field(min_length=1)


class PassageInContext(BaseModel):
    """A span of a document with the text around it: what a reader needs to judge a hit, without the whole file."""

    doc_id: str
    title: str
    source: str
    metadata: dict[str, Any]
    length: int = Field(description="characters in the whole document")
    start: int = Field(description="where the passage starts in the document (characters)")
    end: int
    before: str = Field(description="text before the passage, from a line start at most `context` characters back")
    passage: str
    after: str = Field(description="text after the passage, to a line end at most `context` characters on")


class DocumentWritten(BaseModel):
    doc_id: str
    status: Literal["added", "updated", "unchanged"]
    chunks: int


class BatchWritten(BaseModel):
    added: int
    updated: int
    unchanged: int
    chunks: int = Field(description="chunks written by this request")
    documents: list[DocumentWritten]
    warnings: list[str] = []


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    source: str
    metadata: dict[str, Any]
    text: str
    chunks: int
    content_hash: str
    updated_at: float


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    source: str
    metadata: dict[str, Any]
    chunks: int


class DocumentList(BaseModel):
    documents: list[DocumentSummary]
    limit: int
    offset: int


# search ----------------------------------------------------------------------------------------
class SearchOptions(_Strict):
    top_k: int | None = Field(None, ge=1, le=1000, description="hits to return (default QUARRY_TOP_K, 10)")
    mode: SearchMode | None = Field(None, description="hybrid, dense or lexical (default QUARRY_SEARCH_MODE, hybrid)")
    rerank: bool = Field(True, description="rerank with the cross-encoder when one is loaded")
    candidates: int | None = Field(
        None, ge=1, le=1000, description="hits per retriever before fusion and reranking (default QUARRY_CANDIDATES, 50)"
    )
    filter: MetadataFilter = Field(None, description=FILTER_HELP)
    min_score: float | None = Field(None, description="drop hits scoring below this (scale of the final stage)")
    group_by_document: bool = Field(False, description="return only the best chunk of each document")



def _non_empty(query: str) -> str:
    if not query.strip():
        raise ValueError("query is empty: give some words to search for")
    return query


class SearchRequest(SearchOptions):
    query: str = Field(max_length=4096, examples=["how do I fix a flat tire"])

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        return _non_empty(value)


class BatchSearchRequest(SearchOptions):
    queries: list[str] = Field(min_length=1, description="queries answered with the same options")

    @field_validator("queries")
    @classmethod
    def _queries(cls, values: list[str]) -> list[str]:
        for i, query in enumerate(values):
            if not query.strip():
                raise ValueError(f"queries[{i}] is empty: give some words to search for")
            if len(query) > 4096:
                raise ValueError(f"queries[{i}] is longer than 4096 characters")
        return values


class SearchHit(BaseModel):
    doc_id: str
    chunk_id: int
    score: float
    text: str
    title: str
    source: str
    metadata: dict[str, Any]
    start: int
    end: int
    heading_path: list[str] = []


class SearchResponse(BaseModel):
    query: str
    mode: SearchMode
    reranked: bool
    rerank_note: str = ""
    hits: list[SearchHit]
    timings_ms: dict[str, float] = Field(description="embed, retrieve, rerank and total, in milliseconds")


class BatchSearchResponse(BaseModel):
    results: list[SearchResponse]
    timings_ms: dict[str, float]


# jobs ------------------------------------------------------------------------------------------
class JobCreate(_Strict):
    path: str = Field(
        min_length=1, description="absolute folder or file on the server, under one of QUARRY_JOB_ROOTS",
        examples=["/srv/docs/handbook"],
    )  # fmt: skip


class JobProgress(BaseModel):
    documents_done: int = Field(description="documents committed plus files skipped")
    documents_total: int = Field(description="documents found so far (a corpus.jsonl counts once until read)")
    chunks: int
    chunks_embedded: int = Field(0, description="chunks embedded so far, committed or not")
    chunks_estimate: int = Field(0, description="all chunks the job will embed, estimated from the bytes read so far")
    added: int
    updated: int
    unchanged: int = Field(description="same content hash as stored (after a resume: written before the restart)")
    skipped: int
    elapsed_s: float
    rate_docs_per_s: float
    eta_s: float | None


class JobError(BaseModel):
    file: str
    message: str


class JobInfo(BaseModel):
    id: str
    collection: str
    path: str
    source: Literal["path", "archive"] = Field(
        "path", description="a server folder, or an uploaded archive unpacked under the data dir (path is that folder)"
    )
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    created_at: float
    started_at: float | None
    finished_at: float | None
    runs: int = Field(description="times it started; 2 or more means it resumed after a restart")
    cancel_requested: bool
    message: str
    progress: JobProgress
    errors: list[JobError] = Field(description="files that could not be indexed, and why")


class JobList(BaseModel):
    jobs: list[JobInfo]


# context --------------------------------------------------------------------------------
class ContextRequest(_Strict):
    query: str = Field(min_length=1, max_length=4096, examples=["how do I fix a flat tire"])
    max_tokens: int = Field(1000, ge=16, le=100_000, description="token budget of the context block")
    top_k: int = Field(10, ge=1, le=100, description="most passages considered")
    score_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="least relevance (0..1) a passage needs (default QUARRY_CONTEXT_SCORE_THRESHOLD)"
    )
    filter: MetadataFilter = Field(None, description=FILTER_HELP)
    mode: SearchMode | None = None
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
