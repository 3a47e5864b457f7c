"""The indexing job: diff sources against the collection, chunk and embed what changed, commit in batches.

Re-running a job is always safe: unchanged documents (same content hash) cost nothing, and every
batch is one transaction, so a crash loses at most the batch in flight and a re-run finishes the rest.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from indexer.chunker import Chunker
from indexer.collection import Collection
from indexer.documents import Document, validate_document
from indexer.errors import InvalidDocument, InvalidDocumentId, LoadError
from indexer.loaders import SUPPORTED_EXTENSIONS, discover, load_file
from indexer.store import PreparedDocument

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0  # files or records that could not be indexed (see warnings)
    loaded: int = 0  # documents read from the sources
    chunks: int = 0  # chunks written in this run
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # file -> why it could not be loaded

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, {self.removed} removed, "
            f"{self.skipped} skipped; {self.chunks} chunks written in {self.seconds:.1f}s"
        )


@dataclass
class IndexProgress:
    """Where index_paths stands; the tqdm bar and any on_progress callback read the same numbers.

    total grows while files are read (a corpus.jsonl counts as one until its records are known);
    done counts documents committed plus files skipped or ignored.
    """

    done: int
    total: int
    report: IndexReport
    elapsed: float

    @property
    def rate(self) -> float:
        """Documents per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (None until something is done)."""
        return max(self.total - self.done, 0) / self.rate if self.rate > 0 else None


def default_batch_documents(embedder) -> int:
    """Documents per transaction: a GPU embeds a CPU-sized batch in milliseconds and would wait on
    per-batch work (commits, small model calls), so it gets larger ones; a CPU takes ~1 s per 64 passages,
    which keeps progress moving and a crash cheap."""
    choice = getattr(embedder, "choice", None)
    return 512 if getattr(choice, "is_cuda", False) else 64


@dataclass
class Batch:
    """One transaction's worth of documents on its way in: diff() -> embed() -> commit()."""

    todo: list[tuple[Document, str]] = field(default_factory=list)  # changed documents and their content hashes
    prepared: list[PreparedDocument] = field(default_factory=list)  # chunked and embedded, ready to write
    stored: set[str] = field(default_factory=set)  # ids already in the collection: updated, not added
    unchanged: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def hashes(self) -> dict[str, str]:
        return {p.document.doc_id: p.content_hash for p in self.prepared}


class Indexer:
    """Writes documents into one collection with one embedder."""

    def __init__(self, collection: Collection, embedder, batch_documents: int | None = None, save_every_s: float = 60.0):
        self.collection = collection
        self.embedder = embedder
        self.chunker = Chunker(embedder.tokenizer, collection.manifest.chunker_settings)
        self.batch_documents = batch_documents or default_batch_documents(embedder)
        self.save_every_s = save_every_s

    def upsert(self, documents: list[Document], report: IndexReport | None = None) -> IndexReport:
        """Insert new, replace changed, skip unchanged documents; one transaction for the whole list."""
        report = report or IndexReport()
        self.commit(self.embed(self.diff(documents)), report)
        return report

    def diff(self, documents: list[Document], in_flight: dict[str, str] | None = None) -> Batch:
        """Which documents need work. in_flight: doc_id -> content hash of a batch embedded but not yet
        committed, counted as stored (the same id can come twice in one job)."""
        for doc in documents:  # before any work: a bad document fails the whole call, nothing is written
            validate_document(doc)
        batch = Batch()
        latest = {doc.doc_id: doc for doc in documents}  # the last copy of a repeated id wins
        if len(latest) < len(documents):
            batch.warnings.append(f"{len(documents) - len(latest)} repeated document ids in one batch; the last copy of each was kept")
        stored = self.collection.store.content_hashes(latest)
        stored.update({doc_id: h for doc_id, h in (in_flight or {}).items() if doc_id in latest})
        batch.stored = set(stored)
        for doc in latest.values():
            content_hash = doc.content_hash()
            if stored.get(doc.doc_id) == content_hash:
                batch.unchanged += 1
            else:
                batch.todo.append((doc, content_hash))
        return batch

    def embed(self, batch: Batch) -> Batch:
        """Chunk and embed what diff() found changed. Touches no storage, so it can run beside a commit."""
        if not batch.todo:
            return batch
        chunked = self.chunker.chunk_many([doc for doc, _ in batch.todo])
        texts = [c.embedding_text(doc.title) for (doc, _), chunks in zip(batch.todo, chunked) for c in chunks]
        vectors = self.embedder.encode(texts)
        offset = 0
        for (doc, content_hash), chunks in zip(batch.todo, chunked):
            if not chunks:
                batch.skipped += 1
                batch.warnings.append(f"document {doc.doc_id!r} has no text to index, skipped")
                continue
            batch.prepared.append(PreparedDocument(doc, content_hash, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        return batch

    def commit(self, batch: Batch, report: IndexReport) -> None:
        """Write an embedded batch in one transaction and count it into the report."""
        if batch.prepared:
            self.collection.write(batch.prepared)
        report.unchanged += batch.unchanged
        report.skipped += batch.skipped
        report.warnings.extend(batch.warnings)
        for p in batch.prepared:
            if p.document.doc_id in batch.stored:
                report.updated += 1
            else:
                report.added += 1
            report.chunks += len(p.chunks)

    def index_paths(
        self,
        paths: Iterable[str | Path],
        prune: bool = False,
        progress: bool | None = None,
        on_progress: Callable[[IndexProgress], None] | None = None,
        confine: Path | None = None,
    ) -> IndexReport:
        """Index files and folders. With prune, documents from these folders whose files are gone are removed.

        The job holds the collection's write lock from start to end: a second job (or an API write)
        waits for it or gets CollectionBusy, so two writers never interleave their batches.
        on_progress is called after every committed batch (and at the start and end); an exception it
        raises stops the run there (how batch jobs cancel), with every earlier batch kept. confine: skip
        files whose real path is outside this folder (a symlink pointing out of an allowed root).
        """
        with self.collection.writing("a `quarry index` job"):
            return self._index_paths(paths, prune, progress, on_progress, confine)

    def _index_paths(
        self,
        paths: Iterable[str | Path],
        prune: bool,
        progress: bool | None,
        on_progress: Callable[[IndexProgress], None] | None,
        confine: Path | None,
    ) -> IndexReport:
        from tqdm import tqdm

        started = time.perf_counter()
        report = IndexReport()
        confine = confine.resolve() if confine is not None else None
        paths = [Path(p) for p in paths]
        sources = list(discover(paths))  # raises FileNotFoundError before anything is written
        unsupported: Counter[str] = Counter()
        seen: set[str] = set()
        pending: list[Document] = []
        last_save = time.monotonic()
        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(total=len(sources), unit="doc", desc=f"indexing {self.collection.name}", disable=not show)
        state = IndexProgress(done=0, total=len(sources), report=report, elapsed=0.0)

        def advance(n: int) -> None:
            state.done += n
            bar.update(n)

        def publish() -> None:
            state.elapsed = time.perf_counter() - started
            bar.total = state.total
            bar.set_postfix(added=report.added, updated=report.updated, chunks=report.chunks, refresh=False)
            bar.refresh()
            if on_progress is not None:
                on_progress(state)

        # chunking and embedding batch k+1 (a worker thread) overlaps writing batch k (this thread, which
        # holds the write lock); the worker touches no storage
        ahead = ThreadPoolExecutor(1, thread_name_prefix="quarry-embed")
        embedding: tuple[Future, int] | None = None  # the batch in the worker, and how many documents it came from

        def commit(batch: Batch, count: int) -> None:
            nonlocal last_save
            self.commit(batch, report)
            advance(count)
            publish()
            if time.monotonic() - last_save > self.save_every_s:
                self.collection.save_index()
                last_save = time.monotonic()

        def flush() -> None:
            """Hand the pending documents to the worker, and commit the batch it finished before them."""
            nonlocal embedding
            previous = None
            if embedding is not None:
                future, count = embedding
                embedding = None
                previous = (future.result(), count)
            if pending:
                batch = self.diff(list(pending), in_flight=previous[0].hashes if previous else None)
                embedding = (ahead.submit(self.embed, batch), len(pending))
                pending.clear()
            if previous is not None:
                commit(*previous)

        try:
            publish()
            for source in sources:
                suffix = source.path.suffix.lower()
                if suffix not in SUPPORTED_EXTENSIONS and not source.explicit:
                    unsupported[suffix or "(none)"] += 1
                    advance(1)
                    continue
                seen.add(source.doc_id)  # a file that fails to load now is not "gone"
                if confine is not None and not source.path.is_relative_to(confine):
                    report.skipped += 1
                    report.failed[str(source.path)] = f"{source.doc_id}: links outside {confine}, skipped"
                    report.warnings.append(report.failed[str(source.path)])
                    advance(1)
                    continue
                try:
                    loaded = load_file(source.path, source.doc_id)
                except LoadError as exc:
                    report.skipped += 1
                    report.warnings.append(str(exc))
                    report.failed[str(source.path)] = str(exc)
                    advance(1)
                    continue
                report.warnings.extend(loaded.warnings)
                report.skipped += sum(1 for w in loaded.warnings if w.endswith("line skipped"))
                state.total += len(loaded.documents) - 1
                for doc in loaded.documents:
                    seen.add(doc.doc_id)
                    try:
                        validate_document(doc)
                    except (InvalidDocumentId, InvalidDocument) as exc:
                        report.skipped += 1
                        report.warnings.append(f"{source.path}: {exc}, skipped")
                        continue
                    seen.add(doc.doc_id)  # its NFC form, as stored
                    report.loaded += 1
                    pending.append(doc)
                    if len(pending) >= self.batch_documents:
                        flush()
            while pending or embedding is not None:
                flush()
            publish()
            if prune:
                for root in paths:
                    if root.is_dir():
                        prefix = str(root.resolve()) + os.sep
                        gone = [doc_id for doc_id in self.collection.store.documents_under(prefix) if doc_id not in seen]
                        report.removed += self.collection.delete(gone) if gone else 0
        finally:
            ahead.shutdown(wait=True, cancel_futures=True)  # a batch not committed is dropped, never half-written
            bar.close()
            self.collection.save_index()
        for suffix, count in sorted(unsupported.items()):
            report.warnings.append(f"ignored {count} file(s) of unsupported type {suffix!r}")
        report.seconds = time.perf_counter() - started
        return report
