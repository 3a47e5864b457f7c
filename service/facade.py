"""What a long-running quarry process serves, whatever the transport: the HTTP API (service.api.state
wraps this in its schemas and status codes) and the MCP tools (service.mcp) call the same methods.

Models load once here: the embedder and reranker wrapped for sharing between threads, and the one Searcher
every search entrance uses. Collections open once (the catalog shares them) and stay open; SQLite WAL plus
one transaction per write means a search never sees half a document and never waits for a writer.
Limits raise library errors (service.api.errors maps them to 413/422); nothing here knows about HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator

from indexer.catalog import validate_name
from indexer.collection import Collection, StoredDocument
from indexer.documents import Document, check_metadata, validate_document
from indexer.errors import DocumentNotFound
from indexer.integrity import quick_check
from indexer.pipeline import Indexer, IndexReport
from service.inference import GuardedEmbedder, GuardedReranker
from service.runtime import Runtime
from service.search.pair_scoring import FALLBACK_BM25_WEIGHT, EmbeddingPairScorer
from service.search.relevance import best_first, rerank_texts
from service.settings import Settings

log = logging.getLogger("quarry.api")


# document metadata as every entrance's schema takes it (REST, MCP): finite numbers, 64-bit integers, bounded
# depth and size, refused when parsed with the field named (the indexer checks the same again on write)
Metadata = Annotated[dict[str, Any], AfterValidator(check_metadata)]
METADATA_HELP = "JSON fields you can filter on (finite numbers, at most 16 levels deep and 64 KB)"


class TooLarge(ValueError):
    """A write over a configured size limit (QUARRY_MAX_BATCH_DOCUMENTS, QUARRY_MAX_DOCUMENT_CHARS)."""


@dataclass
class WrittenDocument:
    doc_id: str
    status: str  # "added", "updated" or "unchanged"
    chunks: int


@dataclass
class Written:
    report: IndexReport
    documents: list[WrittenDocument] = field(default_factory=list)


class QuarryService:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.runtime = Runtime(settings)
        self.runtime.load_models()  # embedder raises ModelLoadError (start-up fails); reranker degrades
        self.embedder = GuardedEmbedder(self.runtime.embedder)
        reranker = self.runtime.reranker()
        self.reranker = GuardedReranker(reranker) if reranker is not None else None
        self.fallback_scorer = EmbeddingPairScorer(self.embedder, FALLBACK_BM25_WEIGHT)  # /v1/rerank without one
        if settings.query_batching != "off":
            wait_ms = settings.query_batch_wait_ms
            if wait_ms is None:  # a GPU gains from waiting for company; a CPU is busy enough to gather it
                wait_ms = 2.0 if self.runtime.embedder.choice.is_cuda else 0.0
            self.embedder.enable_batching(settings.query_batch_size, wait_ms)
        # every search entrance (routes, context, OpenAI, MCP) goes through this one, with its limits and observers
        self.searcher = self.runtime.searcher(embedder=self.embedder, reranker=self.reranker)
        # collection name -> what is wrong with its database, found at start-up (/health reports it)
        self.damaged: dict[str, str] = {}
        for name in self.runtime.catalog.names():  # open (and catch up) every collection before serving
            try:
                collection = self.runtime.open_collection(name)
            except Exception as exc:  # noqa: BLE001 - one bad collection must not stop the server
                log.warning("collection %s not opened at start-up: %s", name, exc)
                self.damaged[name] = f"not opened: {exc}"
                continue
            if settings.check_on_start:
                problem = quick_check(collection.directory)
                if problem is not None:
                    self.damaged[name] = f"database damaged ({problem}); run `quarry check -c {name}`"
                    log.error("collection %s: %s", name, self.damaged[name])

    @property
    def snapshots_dir(self):
        """Where the admin snapshot routes keep snapshots (the CLI writes wherever it is told)."""
        return self.settings.data_dir.expanduser() / "snapshots"

    def close(self) -> None:
        self.embedder.close()
        self.runtime.close()  # saves every open collection's vector index

    # caller-supplied passages (POST /v1/rerank) ----------------------------------------------------
    @property
    def pair_scorer_name(self) -> str:
        return "cross-encoder" if self.reranker is not None else self.fallback_scorer.name

    def rank_passages(self, query: str, texts: list[str], top_n: int | None = None) -> list[tuple[int, float]]:
        """(index, relevance 0..1) best first: the cross-encoder when loaded, else the embedder fallback."""
        if self.reranker is not None:
            return rerank_texts(self.reranker, query, texts, top_n)
        return best_first(self.fallback_scorer.relevance(query, texts), top_n)

    # collections ---------------------------------------------------------------------------------
    def collection(self, name: str) -> Collection:
        """404-style CollectionNotFound for an unknown name, EmbedderMismatch when built with another embedder."""
        return self.runtime.open_collection(name)

    def collection_names(self, visible: Callable[[str], bool] = lambda name: True) -> list[str]:
        return [name for name in self.runtime.catalog.names() if visible(name)]

    def delete_collection(self, name: str) -> None:
        """Allowed whatever embedder built it: deleting is how a mismatched collection is cleared."""
        self.runtime.catalog.delete(validate_name(name))

    # documents -----------------------------------------------------------------------------------
    def check_sizes(self, documents: list[Document]) -> None:
        if len(documents) > self.settings.max_batch_documents:
            raise TooLarge(
                f"{len(documents)} documents in one request; the limit is {self.settings.max_batch_documents}"
                " (QUARRY_MAX_BATCH_DOCUMENTS): split the batch"
            )
        limit = self.settings.max_document_chars
        for doc in documents:
            if len(doc.text) > limit:
                raise TooLarge(
                    f"document {doc.doc_id!r} has {len(doc.text)} characters; the limit is {limit}"
                    " (QUARRY_MAX_DOCUMENT_CHARS): split it into several documents"
                )

    def write_documents(self, collection: Collection, documents: list[Document]) -> Written:
        """Chunk, embed and commit in one transaction; returns once the documents are searchable."""
        self.check_sizes(documents)
        for doc in documents:  # checked (and ids put in NFC) before any work: one bad document refuses the request
            validate_document(doc)
        latest = {d.doc_id: d for d in documents}  # the last copy of a repeated id wins, as in Indexer.upsert
        before = collection.content_hashes(latest)
        report: IndexReport = Indexer(collection, self.embedder).upsert(documents)
        written = Written(report)
        for doc_id, doc in latest.items():
            stored = collection.get_document(doc_id)
            if doc_id not in before:
                status = "added"
            else:
                status = "unchanged" if before[doc_id] == doc.content_hash() else "updated"
            written.documents.append(WrittenDocument(doc_id, status, stored.n_chunks if stored else 0))
        return written

    def read_document(self, collection: Collection, doc_id: str) -> StoredDocument:
        doc = collection.get_document(doc_id)
        if doc is None:
            raise _doc_not_found(collection, doc_id)
        return doc

    def delete_document(self, collection: Collection, doc_id: str) -> None:
        if collection.delete([doc_id]) == 0:
            raise _doc_not_found(collection, doc_id)


def _doc_not_found(collection: Collection, doc_id: str) -> DocumentNotFound:
    return DocumentNotFound(
        f"document {doc_id!r} not found in collection {collection.name!r}; "
        f"GET /v1/collections/{collection.name}/documents lists the ids"
    )
