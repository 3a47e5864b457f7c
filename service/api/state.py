"""What the API holds for its lifetime, and the operations routes call: plain methods, testable alone.

Models load once at start-up. Collections open once (the catalog shares them) and stay open; SQLite
WAL plus one transaction per write means a search never sees half a document and never waits for a writer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from indexer.catalog import validate_name
from indexer.collection import Collection
from indexer.documents import Document, validate_document
from indexer.errors import DocumentNotFound
from indexer.integrity import quick_check
from indexer.pipeline import Indexer, IndexReport
from service.api import schemas
from service.api.errors import ApiError, payload_too_large
from service.inference import GuardedEmbedder, GuardedReranker
from service.runtime import Runtime
from service.search.pipeline import SearchResult
from service.settings import Settings

log = logging.getLogger("quarry.api")


class ApiState:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.runtime = Runtime(settings)
        self.runtime.load_models()  # embedder raises ModelLoadError (start-up fails); reranker degrades
        self.embedder = GuardedEmbedder(self.runtime.embedder)
        reranker = self.runtime.reranker()
        self.reranker = GuardedReranker(reranker) if reranker is not None else None
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

    # health --------------------------------------------------------------------------------------
    def health(self, visible: Callable[[str], bool] = lambda name: True) -> schemas.HealthResponse:
        status = self.runtime.reranker_status
        embedder = self.runtime.embedder
        collections, problems = [], {}
        for name in filter(visible, self.runtime.catalog.names()):
            if name in self.damaged:
                problems[name] = self.damaged[name]
            try:
                counts = self.runtime.open_collection(name).counts()
            except Exception as exc:  # noqa: BLE001 - reported as -1 rather than failing the health check
                counts = {"documents": -1, "chunks": -1}
                problems.setdefault(name, f"cannot be read: {exc}")
            collections.append(schemas.CollectionCounts(name=name, **counts))
        degraded = (not status.loaded and self.settings.reranker_enabled) or bool(problems)
        return schemas.HealthResponse(
            status="degraded" if degraded else "ok",
            embedder=schemas.ModelStatus(
                name=self.settings.embedder, loaded=True, device=embedder.choice.device, dimension=embedder.dimension
            ),
            reranker=schemas.ModelStatus(
                name=status.name, loaded=status.loaded, reason=status.reason,
                device=self.reranker.choice.device if self.reranker is not None else None,
            ),  # fmt: skip
            query_batching=self.embedder.batcher is not None,
            collections=collections,
            problems=problems,
        )

    # collections ---------------------------------------------------------------------------------
    def collection(self, name: str) -> Collection:
        return self.runtime.open_collection(name)

    def collection_info(self, collection: Collection) -> schemas.CollectionInfo:
        m = collection.manifest
        return schemas.CollectionInfo(
            name=m.name, embedder=m.embedder, dimension=m.dimension, chunk_size=m.chunk_size,
            chunk_overlap=m.chunk_overlap, index_type=m.index_type, created_at=m.created_at, **collection.counts(),
        )  # fmt: skip

    def list_collections(self, visible: Callable[[str], bool] = lambda name: True) -> list[schemas.CollectionInfo]:
        return [self.collection_info(self.collection(name)) for name in filter(visible, self.runtime.catalog.names())]

    def create_collection(self, body: schemas.CollectionCreate) -> Collection:
        try:
            return self.runtime.create_collection(body.name, body.chunk_size, body.chunk_overlap)
        except ValueError as exc:  # chunker settings that do not fit the embedder
            raise ApiError(422, "invalid_request", f"{exc}; pick chunk_size and chunk_overlap that fit") from None

    def delete_collection(self, name: str) -> None:
        """Allowed whatever embedder built it: deleting is how a mismatched collection is cleared."""
        self.runtime.catalog.delete(validate_name(name))

    # documents -----------------------------------------------------------------------------------
    def _check_sizes(self, documents: list[schemas.DocumentIn]) -> None:
        if len(documents) > self.settings.max_batch_documents:
            raise payload_too_large(
                f"{len(documents)} documents in one request; the limit is {self.settings.max_batch_documents}"
                " (QUARRY_MAX_BATCH_DOCUMENTS): split the batch"
            )
        limit = self.settings.max_document_chars
        for doc in documents:
            if len(doc.text) > limit:
                raise payload_too_large(
                    f"document {doc.doc_id!r} has {len(doc.text)} characters; the limit is {limit}"
                    " (QUARRY_MAX_DOCUMENT_CHARS): split it into several documents"
                )

    def upsert(self, collection: Collection, documents: list[schemas.DocumentIn]) -> schemas.BatchWritten:
        """Chunk, embed and commit in one transaction; returns once the documents are searchable."""
        self._check_sizes(documents)
        docs = [  # checked (and ids put in NFC) before any work: one bad document refuses the request
            validate_document(Document(d.doc_id, d.text, title=d.title, source=d.source, metadata=d.metadata, format=d.format))
            for d in documents
        ]
        latest = {d.doc_id: d for d in docs}  # the last copy of a repeated id wins, as in Indexer.upsert
        before = collection.content_hashes(latest)
        report: IndexReport = Indexer(collection, self.embedder).upsert(docs)
        written = []
        for doc_id, doc in latest.items():
            stored = collection.get_document(doc_id)
            if doc_id not in before:
                status = "added"
            else:
                status = "unchanged" if before[doc_id] == doc.content_hash() else "updated"
            written.append(schemas.DocumentWritten(doc_id=doc_id, status=status, chunks=stored.n_chunks if stored else 0))
        return schemas.BatchWritten(
            added=report.added, updated=report.updated, unchanged=report.unchanged, chunks=report.chunks,
            documents=written, warnings=report.warnings,
        )  # fmt: skip

    def get_document(self, collection: Collection, doc_id: str) -> schemas.DocumentOut:
        doc = collection.get_document(doc_id)
        if doc is None:
            raise _doc_not_found(collection, doc_id)
        return schemas.DocumentOut(
            doc_id=doc.doc_id, title=doc.title, source=doc.source, metadata=doc.metadata, text=doc.text,
            chunks=doc.n_chunks, content_hash=doc.content_hash, updated_at=doc.updated_at,
        )  # fmt: skip

    def list_documents(self, collection: Collection, limit: int, offset: int) -> schemas.DocumentList:
        docs = collection.list_documents(limit, offset)
        return schemas.DocumentList(
            documents=[
                schemas.DocumentSummary(doc_id=d.doc_id, title=d.title, source=d.source, metadata=d.metadata, chunks=d.n_chunks)
                for d in docs
            ],
            limit=limit,
            offset=offset,
        )

    def delete_document(self, collection: Collection, doc_id: str) -> None:
        if collection.delete([doc_id]) == 0:
            raise _doc_not_found(collection, doc_id)

    # search --------------------------------------------------------------------------------------
    def search(self, collection: Collection, query: str, options: schemas.SearchOptions) -> schemas.SearchResponse:
        return _response(self.searcher.search(collection, query, **_options(options)))

    def search_batch(self, collection: Collection, body: schemas.BatchSearchRequest, cancelled=None) -> schemas.BatchSearchResponse:
        results, timings = self.searcher.search_batch(collection, body.queries, cancelled=cancelled, **_options(body))
        return schemas.BatchSearchResponse(results=[_response(r) for r in results], timings_ms=timings)


def _options(options: schemas.SearchOptions) -> dict:
    """A request's search options as Searcher keywords (None: the server's default)."""
    return dict(
        top_k=options.top_k, mode=options.mode, candidates=options.candidates, rerank=options.rerank,
        filter=options.filter, min_score=options.min_score, group_by_document=options.group_by_document,
    )  # fmt: skip


def _doc_not_found(collection: Collection, doc_id: str) -> DocumentNotFound:
    return DocumentNotFound(
        f"document {doc_id!r} not found in collection {collection.name!r}; "
        f"GET /v1/collections/{collection.name}/documents lists the ids"
    )


def _response(result: SearchResult) -> schemas.SearchResponse:
    timings = {"embed": 0.0, "retrieve": 0.0, "rerank": 0.0, **result.timings_ms}
    return schemas.SearchResponse(
        query=result.query,
        mode=result.mode,
        reranked=result.reranked,
        rerank_note=result.rerank_note,
        hits=[schemas.SearchHit(**vars(hit)) for hit in result.hits],
        timings_ms=timings,
    )
