"""The HTTP API's view of the service: the facade (service.facade) in the API's schemas and status codes.

Plain methods, testable alone; routes stay thin.
"""

from __future__ import annotations

from collections.abc import Callable

from indexer.collection import Collection
from indexer.documents import Document
from service.api import schemas
from service.api.errors import ApiError
from service.facade import QuarryService
from service.search.pipeline import SearchResult


class ApiState(QuarryService):
    # health --------------------------------------------------------------------------------------
    def health(self, visible: Callable[[str], bool] = lambda name: True) -> schemas.HealthResponse:
        status = self.runtime.reranker_status
        embedder = self.runtime.embedder
        collections, problems = [], {}
        for name in self.collection_names(visible):
            if name in self.damaged:
                problems[name] = self.damaged[name]
            try:
                counts = self.runtime.open_collection(name).counts()
            except Exception as exc:  # noqa: BLE001 - reported as -1 rather than failing the health check
                counts = {"documents": -1, "chunks": -1}
                problems.setdefault(name, f"cannot be read: {exc}")
            collections.append(schemas.CollectionCounts(name=name, **counts))
        degraded = (status.required and not status.loaded) or bool(problems)
        return schemas.HealthResponse(
            status="degraded" if degraded else "ok",
            note=status.note,
            embedder=schemas.ModelStatus(
                name=self.settings.embedder, loaded=True, device=embedder.choice.device, dimension=embedder.dimension
            ),
            reranker=schemas.ModelStatus(
                name=status.name, loaded=status.loaded, reason=status.reason, required=status.required,
                device=self.reranker.choice.device if self.reranker is not None else None,
            ),  # fmt: skip
            rerank_scorer=self.pair_scorer_name,
            query_batching=self.embedder.batcher is not None,
            collections=collections,
            problems=problems,
        )

    # collections ---------------------------------------------------------------------------------
    def collection_info(self, collection: Collection) -> schemas.CollectionInfo:
        m = collection.manifest
        return schemas.CollectionInfo(
            name=m.name, embedder=m.embedder, dimension=m.dimension, chunk_size=m.chunk_size,
            chunk_overlap=m.chunk_overlap, index_type=m.index_type, created_at=m.created_at, **collection.counts(),
        )  # fmt: skip

    def list_collections(self, visible: Callable[[str], bool] = lambda name: True) -> list[schemas.CollectionInfo]:
        return [self.collection_info(self.collection(name)) for name in self.collection_names(visible)]

    def create_collection(self, body: schemas.CollectionCreate) -> Collection:
        try:
            return self.runtime.create_collection(body.name, body.chunk_size, body.chunk_overlap)
        except ValueError as exc:  # chunker settings that do not fit the embedder
            raise ApiError(422, "invalid_request", f"{exc}; pick chunk_size and chunk_overlap that fit") from None

    # documents -----------------------------------------------------------------------------------
    def upsert(self, collection: Collection, documents: list[schemas.DocumentIn]) -> schemas.BatchWritten:
        """Chunk, embed and commit in one transaction; returns once the documents are searchable."""
        docs = [
            Document(d.doc_id, d.text, title=d.title, source=d.source, metadata=d.metadata, format=d.format)
            for d in documents
        ]
        written = self.write_documents(collection, docs)
        report = written.report
        return schemas.BatchWritten(
            added=report.added, updated=report.updated, unchanged=report.unchanged, chunks=report.chunks,
            documents=[schemas.DocumentWritten(**vars(d)) for d in written.documents], warnings=report.warnings,
        )  # fmt: skip

    def get_document(self, collection: Collection, doc_id: str) -> schemas.DocumentOut:
        doc = self.read_document(collection, doc_id)
        return schemas.DocumentOut(
            doc_id=doc.doc_id, title=doc.title, source=doc.source, metadata=doc.metadata, text=doc.text,
            chunks=doc.n_chunks, content_hash=doc.content_hash, updated_at=doc.updated_at,
        )  # fmt: skip

    def passage(self, collection: Collection, doc_id: str, start: int, end: int, context: int) -> schemas.PassageInContext:
        doc = self.read_document(collection, doc_id)
        text = doc.text
        start = min(start, len(text))
        end = min(max(end, start), len(text))
        lo, hi = max(0, start - context), min(len(text), end + context)
        if lo > 0:  # begin at a line start when one is near, not mid-word
            line = text.find("\n", lo, start)
            lo = line + 1 if line >= 0 else lo
        if hi < len(text):
            line = text.rfind("\n", end, hi)
            hi = line if line >= 0 else hi
        return schemas.PassageInContext(
            doc_id=doc.doc_id, title=doc.title, source=doc.source, metadata=doc.metadata, length=len(text),
            start=start, end=end, before=text[lo:start], passage=text[start:end], after=text[end:hi],
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
