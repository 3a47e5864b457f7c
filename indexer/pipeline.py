"""The indexing job: diff sources against the collection, chunk and embed what changed, commit in batches.

Re-running a job is always safe: unchanged documents (same content hash) cost nothing, and every
batch is one transaction, so a crash loses at most the batch in flight and a re-run finishes the rest.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from indexer.chunker import Chunker
from indexer.collection import Collection
from indexer.documents import Document, validate_document
from indexer.errors import InvalidDocument, InvalidDocumentId, LoadError
from indexer.formats import load_file
from indexer.formats.ocr import IMAGE_EXTENSIONS
from indexer.formats.text import stream_jsonl
from indexer.languages import detect_language
from indexer.sources import SourceFile, discover, id_below
from indexer.store import FileRecord, PreparedDocument
from indexer.writers import ParallelWriters
from models.protocols import TextEncoder

log = logging.getLogger(__name__)

ENCODE_SLICE = 1024  # texts per embedder call on CPU: progress moves every few seconds, batching stays efficient


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
    chunks_done: int = 0  # chunks embedded so far
    chunks_total: int = 0  # estimate: chunks known plus the rest at the chunks-per-byte seen so far

    @property
    def rate(self) -> float:
        """Documents per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate: by chunks once some are embedded (a batch of large files moves
        them, not the document count), else by documents; None until something is done."""
        if self.chunks_done > 0 and self.elapsed > 0:
            return max(self.chunks_total - self.chunks_done, 0) / (self.chunks_done / self.elapsed)
        return max(self.total - self.done, 0) / self.rate if self.rate > 0 else None


def default_batch_documents(embedder: TextEncoder) -> int:
    """Documents per transaction: a GPU embeds a CPU-sized batch in milliseconds and would wait on
    per-batch work (commits, small model calls), so it gets larger ones; a CPU takes ~1 s per 64 passages,
    which keeps progress moving and a crash cheap."""
    return 512 if embedder.choice.is_cuda else 64


@dataclass
class Batch:
    """One transaction's worth of documents on its way in: diff() -> embed() -> commit()."""

    todo: list[tuple[Document, str]] = field(default_factory=list)  # changed documents and their content hashes
    files: list[FileRecord] = field(default_factory=list)  # files whose last document is in this batch
    source_bytes: int = 0  # bytes of the files this batch's documents came from (for the progress estimate)
    prepared: list[PreparedDocument] = field(default_factory=list)  # chunked and embedded, ready to write
    stored: set[str] = field(default_factory=set)  # ids already in the collection: updated, not added
    unchanged: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def hashes(self) -> dict[str, str]:
        return {p.document.doc_id: p.content_hash for p in self.prepared}


@dataclass(frozen=True)
class FileLimits:
    """What one file (and one document read from a file) may be when indexing paths: a file over max_file_bytes
    is skipped unread, a document over max_document_chars is skipped after reading; each with a warning naming
    the setting. None: no limit. (One 20,000,000-character .txt once cost a job 37 s and 1.3 GB.)"""

    max_file_bytes: int | None = 100_000_000
    max_document_chars: int | None = 2_000_000
    file_setting: str = "QUARRY_MAX_FILE_BYTES"
    document_setting: str = "QUARRY_MAX_DOCUMENT_CHARS"


def file_id(
    source: SourceFile, records: dict[str, FileRecord], by_source: dict[str, list[str]], roots: list[Path],
    get_document: Callable[[str], object | None],
) -> str:
    """The id a file was first given (recorded, or found by its path in an older collection), else a new one.
    Shared by every engine, so a file gets the same id however the collection is written."""
    key = str(source.path)
    if key in records:
        return records[key].doc_id
    old = [i for i in by_source.get(key, []) if "#" not in i]
    if len(old) == 1:
        return old[0]
    # a new file in a tree this collection already holds is named below the same anchor
    root = next((r for r in roots if source.path.is_relative_to(r)), None)
    doc_id = id_below(root, source.path) if root is not None else source.doc_id
    holder = get_document(doc_id)
    if holder is not None and holder.source and holder.source != key:  # the id names another file
        return source.path.as_posix().lstrip("/")
    return doc_id


def known_roots(records: dict[str, FileRecord]) -> list[Path]:
    """The anchors of the files already indexed (a record's path minus the part below its id's first name), outermost first."""
    roots = set()
    for record in records.values():
        anchor, _, below = record.doc_id.partition("/")
        if below and "#" not in below and record.path.endswith("/" + below):
            root = Path(record.path[: -len(below) - 1])
            if root.name == anchor:
                roots.add(root)
    return sorted(roots, key=lambda r: len(r.parts))


def file_unchanged(record: FileRecord | None, size: int, mtime_ns: int, content_hashes: Callable[[list[str]], dict]) -> bool:
    """A file indexed before, with the size and modification time recorded then, whose documents are all still stored."""
    if record is None or (record.size, record.mtime_ns) != (size, mtime_ns) or not record.doc_ids:
        return False
    return len(content_hashes(record.doc_ids)) == len(set(record.doc_ids))  # none deleted since


class Indexer:
    """Writes documents into one collection with one embedder."""

    def __init__(
        self,
        collection: Collection,
        embedder: TextEncoder,
        batch_documents: int | None = None,
        save_every_s: float = 60.0,
        limits: "FileLimits | None" = None,
        writers: int = 1,
    ):
        self.collection = collection
        self.embedder = embedder
        self.batch_documents = batch_documents or default_batch_documents(embedder)
        self.save_every_s = save_every_s
        self.limits = limits or FileLimits()
        self.writers = max(1, int(writers))  # index_paths: >1 writes that many sealed segments at once (indexer.writers)

    @cached_property
    def chunker(self) -> Chunker:
        """Made on first use: a re-run that finds every file unchanged never loads the embedder."""
        return Chunker(self.embedder.tokenizer, self.collection.manifest.chunker_settings)

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
        stored = self.collection.content_hashes(latest)
        stored.update({doc_id: h for doc_id, h in (in_flight or {}).items() if doc_id in latest})
        batch.stored = set(stored)
        for doc in latest.values():
            content_hash = doc.content_hash()
            if stored.get(doc.doc_id) == content_hash:
                batch.unchanged += 1
            else:
                batch.todo.append((doc, content_hash))
        return batch

    def _encode(self, texts: list[str], on_embedded: Callable[[int], None] | None) -> np.ndarray:
        """Embed in slices so progress moves inside a batch of large documents (a GPU takes them whole)."""
        step = len(texts) if on_embedded is None or self.embedder.choice.is_cuda else ENCODE_SLICE
        parts = []
        for i in range(0, len(texts), max(step, 1)):
            parts.append(self.embedder.encode(texts[i : i + step]))
            if on_embedded is not None:
                on_embedded(len(parts[-1]))
        return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else self.embedder.encode([])

    def embed(
        self, batch: Batch, on_chunked: Callable[[int, int], None] | None = None, on_embedded: Callable[[int], None] | None = None
    ) -> Batch:
        """Chunk and embed what diff() found changed. Touches no storage, so it can run beside a commit."""
        if not batch.todo:
            return batch
        chunked = self.chunker.chunk_many([doc for doc, _ in batch.todo])
        prefix = self.collection.manifest.document_prefix
        texts = [prefix + c.embedding_text(doc.title) for (doc, _), chunks in zip(batch.todo, chunked) for c in chunks]
        if on_chunked is not None:
            on_chunked(len(texts), batch.source_bytes)
        vectors = self._encode(texts, on_embedded)
        offset = 0
        for (doc, content_hash), chunks in zip(batch.todo, chunked):
            if not chunks:
                batch.skipped += 1
                batch.warnings.append(f"document {doc.doc_id!r} has no text to index, skipped")
                continue
            language = detect_language(doc.text)
            batch.prepared.append(PreparedDocument(doc, content_hash, chunks, vectors[offset : offset + len(chunks)], language))
            offset += len(chunks)
        return batch

    def commit(self, batch: Batch, report: IndexReport, warn: Callable[[str], None] | None = None) -> None:
        """Write an embedded batch in one transaction and count it into the report; then remember its files."""
        if batch.prepared:
            self.collection.write(batch.prepared)
        self.collection.store.record_files(batch.files)
        self.count(batch, report, warn)

    @staticmethod
    def count(batch: Batch, report: IndexReport, warn: Callable[[str], None] | None = None) -> None:
        """Count a written batch into the report."""
        report.unchanged += batch.unchanged
        report.skipped += batch.skipped
        for warning in batch.warnings:
            (warn or report.warnings.append)(warning)
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
        rehash: bool = False,
        on_warning: Callable[[str], None] | None = None,
    ) -> IndexReport:
        """Index files and folders. With prune, documents from these folders whose files are gone are removed.

        The job holds the collection's write lock from start to end: a second job (or an API write)
        waits for it or gets CollectionBusy, so two writers never interleave their batches.
        on_progress is called after every committed batch (and at the start and end); an exception it
        raises stops the run there (how batch jobs cancel), with every earlier batch kept. confine: skip
        files whose real path is outside this folder (a symlink pointing out of an allowed root).
        A file whose size and modification time match what was recorded when it was indexed is not read
        again; rehash reads every file and compares content hashes instead. on_warning is called with
        each warning as it happens (they are also collected in the report).
        With writers > 1, batches go to that many sealed segments written at once (indexer.writers), made
        live together every save_every_s and at the end (also when the run stops early); a crash loses
        only what was written since the last of those commits, and a re-run redoes it.
        """
        with self.collection.writing("a `quarry index` job"):
            return _IndexRun(self, progress, on_progress, confine, rehash, on_warning).run([Path(p) for p in paths], prune)


class _IndexRun:
    """One index_paths call: its sources, counters, progress bar and the batch in the worker thread."""

    def __init__(self, indexer: Indexer, progress, on_progress, confine, rehash, on_warning):
        self.indexer, self.on_progress, self.rehash, self.on_warning = indexer, on_progress, rehash, on_warning
        self.collection = indexer.collection
        self.store = indexer.collection.store
        self.confine = confine.resolve() if confine is not None else None
        self.show = sys.stderr.isatty() if progress is None else progress
        self.report = IndexReport()
        self.started = time.perf_counter()
        self.seen: set[str] = set()
        self.pending: list[Document] = []
        self.pending_bytes = 0
        self.pending_files: list[FileRecord] = []
        # the progress estimate: bytes of files still to chunk, and the chunks per byte seen so far
        self.lock = threading.Lock()
        self.bytes_left = 0
        self.bytes_chunked = 0
        self.chunks_known = 0
        self.chunks_done = 0
        # --writers N: batches written to sealed segments, not yet live; their files and hashes wait with them
        self.parallel = ParallelWriters(self.collection, indexer.writers) if indexer.writers > 1 else None
        self.unsealed_files: list[FileRecord] = []
        self.unsealed: dict[str, str] = {}  # doc id -> content hash written but not committed

    # warnings and progress -----------------------------------------------------------------------
    def warn(self, message: str) -> None:
        self.report.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)

    def skip(self, source: SourceFile, reason: str) -> None:
        self.advance(1)
        self.report.skipped += 1
        self.report.failed[str(source.path)] = reason
        self.warn(reason)

    def estimate(self) -> int:
        with self.lock:
            if self.bytes_chunked == 0:
                return self.chunks_known
            return self.chunks_known + round(self.bytes_left * self.chunks_known / self.bytes_chunked)

    def on_chunked(self, chunks: int, source_bytes: int) -> None:
        with self.lock:
            self.chunks_known += chunks
            self.bytes_chunked += source_bytes
            self.bytes_left = max(self.bytes_left - source_bytes, 0)
        self.bar.total = max(self.estimate(), self.chunks_done)
        self.bar.refresh()

    def on_embedded(self, chunks: int) -> None:
        with self.lock:
            self.chunks_done += chunks
        self.bar.update(chunks)

    def no_chunks_from(self, size: int) -> None:
        """A file that will add no chunks (unchanged, skipped) leaves the estimate."""
        with self.lock:
            self.bytes_left = max(self.bytes_left - size, 0)

    def advance(self, documents: int) -> None:
        self.state.done += documents

    def publish(self) -> None:
        state, report = self.state, self.report
        state.elapsed = time.perf_counter() - self.started
        state.chunks_done, state.chunks_total = self.chunks_done, max(self.estimate(), self.chunks_done)
        self.bar.total = state.chunks_total
        self.bar.set_postfix(docs=f"{state.done}/{state.total}", added=report.added, updated=report.updated, chunks=report.chunks, refresh=False)
        self.bar.refresh()
        if self.on_progress is not None:
            self.on_progress(state)

    # batches --------------------------------------------------------------------------------------
    def commit(self, batch: Batch, count: int) -> None:
        if self.parallel is None:
            self.indexer.commit(batch, self.report, self.warn)
        else:
            if batch.prepared:
                self.parallel.submit(batch.prepared)
            self.unsealed.update(batch.hashes)
            self.unsealed_files += batch.files
            self.indexer.count(batch, self.report, self.warn)
        self.advance(count)
        self.publish()
        if time.monotonic() - self.last_save > self.indexer.save_every_s:
            self.seal()
            self.collection.save_index()
            self.last_save = time.monotonic()

    def seal(self) -> None:
        """--writers N: make what the writers wrote live (one commit), then remember its files."""
        if self.parallel is None:
            return
        self.parallel.commit()
        self.store.record_files(self.unsealed_files)
        self.unsealed_files, self.unsealed = [], {}

    def flush(self) -> None:
        """Hand the pending documents to the worker, and commit the batch it finished before them."""
        previous = None
        if self.embedding is not None:
            future, count = self.embedding
            self.embedding = None
            previous = (future.result(), count)
        if self.pending:
            in_flight = dict(self.unsealed)
            in_flight.update(previous[0].hashes if previous else {})
            batch = self.indexer.diff(list(self.pending), in_flight=in_flight)
            batch.files, batch.source_bytes = list(self.pending_files), self.pending_bytes
            self.embedding = (self.ahead.submit(self.indexer.embed, batch, self.on_chunked, self.on_embedded), len(self.pending))
            self.pending.clear()
            self.pending_files.clear()
            self.pending_bytes = 0
        if previous is not None:
            self.commit(*previous)

    # files ------------------------------------------------------------------------------------------
    def file_id(self, source: SourceFile, records: dict[str, FileRecord], by_source: dict[str, list[str]]) -> str:
        return file_id(source, records, by_source, self.roots, self.collection.get_document)

    def unchanged(self, record: FileRecord | None, size: int, mtime_ns: int) -> bool:
        return not self.rehash and file_unchanged(record, size, mtime_ns, self.collection.content_hashes)

    def load(self, source: SourceFile, records, by_source) -> None:
        try:
            stat = source.path.stat()
        except OSError as exc:
            self.skip(source, f"{source.path}: cannot read ({exc.strerror or exc})")
            return
        if self.confine is not None and not source.path.is_relative_to(self.confine):
            self.no_chunks_from(stat.st_size)
            self.skip(source, f"{source.doc_id}: links outside {self.confine}, skipped")
            return
        limits = self.indexer.limits
        streamed = source.path.suffix.lower() == ".jsonl"  # read a line at a time: only its records are limited
        if limits.max_file_bytes is not None and stat.st_size > limits.max_file_bytes and not streamed:
            self.no_chunks_from(stat.st_size)
            self.skip(source, f"{source.path}: {stat.st_size} bytes, over the limit of {limits.max_file_bytes}"
                              f" ({limits.file_setting}); skipped unread")  # fmt: skip
            return
        key = str(source.path)
        record = records.get(key)
        if self.unchanged(record, stat.st_size, stat.st_mtime_ns):
            self.seen.update(record.doc_ids)
            self.report.unchanged += len(record.doc_ids)
            self.state.total += len(record.doc_ids) - 1
            self.advance(len(record.doc_ids))
            self.no_chunks_from(stat.st_size)
            return
        doc_id = self.file_id(source, records, by_source)
        ids: list[str] = []
        if source.path.suffix.lower() == ".jsonl":  # streamed: a corpus of any size costs one line's memory
            warnings: list[str] = []
            line_limit = None if limits.max_document_chars is None else 8 * limits.max_document_chars + 65_536
            first = True
            for doc, size in stream_jsonl(source.path, warnings, line_limit):
                self.state.total += 0 if first else 1
                first = False
                self.flush_warnings(warnings)
                self.take(source, doc, size, ids)
            self.flush_warnings(warnings)
            if first:
                self.no_chunks_from(stat.st_size)
                self.skip(source, f"{source.path}: no valid documents in this JSONL file")
                return
        else:
            try:
                loaded = load_file(source.path, doc_id)
            except LoadError as exc:
                self.no_chunks_from(stat.st_size)
                self.skip(source, str(exc))
                return
            self.flush_warnings(loaded.warnings)
            self.state.total += len(loaded.documents) - 1
            share = stat.st_size // max(len(loaded.documents), 1)
            for doc in loaded.documents:
                self.take(source, doc, share, ids)
        if ids:
            self.pending_files.append(FileRecord(key, stat.st_size, stat.st_mtime_ns, doc_id, ids))
        else:
            self.no_chunks_from(stat.st_size)

    def flush_warnings(self, warnings: list[str]) -> None:
        for warning in warnings:
            self.warn(warning)
        self.report.skipped += sum(1 for w in warnings if w.endswith("skipped"))  # records, parts, attachments
        warnings.clear()

    def take(self, source: SourceFile, doc: Document, share: int, ids: list[str]) -> None:
        """One document read from a file: checked, limited, then queued for the next batch."""
        limits = self.indexer.limits
        self.seen.add(doc.doc_id)
        try:
            validate_document(doc)
        except (InvalidDocumentId, InvalidDocument) as exc:
            self.report.skipped += 1
            self.warn(f"{source.path}: {exc}, skipped")
            return
        if limits.max_document_chars is not None and len(doc.text) > limits.max_document_chars:
            self.report.skipped += 1
            self.warn(f"{source.path}: document {doc.doc_id!r} has {len(doc.text)} characters, over the limit of"
                      f" {limits.max_document_chars} ({limits.document_setting}); skipped")  # fmt: skip
            return
        self.seen.add(doc.doc_id)  # its NFC form, as stored
        self.report.loaded += 1
        ids.append(doc.doc_id)
        self.pending.append(doc)
        self.pending_bytes += share
        if len(self.pending) >= self.indexer.batch_documents:
            self.flush()

    def run(self, paths: list[Path], prune: bool) -> IndexReport:
        from tqdm import tqdm

        sources = list(discover(paths))  # raises FileNotFoundError before anything is written
        records = self.store.file_records()
        self.roots = known_roots(records)
        by_source = self.collection.ids_by_source() if any(str(s.path) not in records for s in sources) else {}
        unsupported: Counter[str] = Counter()
        for source in sources:
            if source.supported or source.explicit:
                try:
                    self.bytes_left += source.path.stat().st_size
                except OSError:
                    pass
        self.last_save = time.monotonic()
        self.bar = tqdm(total=0, unit="chunk", desc=f"indexing {self.collection.name}", disable=not self.show, smoothing=0.1)
        self.state = IndexProgress(done=0, total=len(sources), report=self.report, elapsed=0.0)
        # chunking and embedding batch k+1 (a worker thread) overlaps writing batch k (this thread, which
        # holds the write lock); the worker touches no storage
        self.ahead = ThreadPoolExecutor(1, thread_name_prefix="quarry-embed")
        self.embedding: tuple[Future, int] | None = None  # the batch in the worker, and how many documents it came from
        try:
            self.publish()
            for source in sources:
                if not source.supported and not source.explicit:
                    unsupported[source.path.suffix.lower() or "(none)"] += 1
                    self.advance(1)
                    continue
                self.seen.add(source.doc_id)  # a file that fails to load now is not "gone"
                if str(source.path) in records:
                    self.seen.add(records[str(source.path)].doc_id)
                self.load(source, records, by_source)
            while self.pending or self.embedding is not None:
                self.flush()
            self.seal()
            self.store.record_files(self.pending_files)  # files whose every document was already flushed
            self.publish()
            if prune:
                self.prune(paths)
        except BaseException:
            self.ahead.shutdown(wait=True, cancel_futures=True)
            self.close_writers(failing=True)
            raise
        finally:
            self.ahead.shutdown(wait=True, cancel_futures=True)  # a batch not committed is dropped, never half-written
            self.close_writers()
            self.bar.close()
            self.collection.save_index()
        for suffix, count in sorted(unsupported.items()):
            hint = " (QUARRY_OCR=auto reads images)" if suffix in IMAGE_EXTENSIONS else ""
            self.report.warnings.append(f"ignored {count} file(s) of unsupported type {suffix!r}{hint}")
        self.report.seconds = time.perf_counter() - self.started
        return self.report

    def close_writers(self, failing: bool = False) -> None:
        """A run that stops early keeps every batch its writers finished (as the base path keeps committed
        ones); when that commit fails too, the unsealed segments are dropped and the first error stands."""
        parallel = self.parallel
        if parallel is None:
            return
        try:
            with self.collection._storage_errors():
                self.seal()
        except BaseException:
            parallel.abort()
            if not failing:
                raise
        finally:
            parallel.close()
            self.parallel = None

    def prune(self, paths: list[Path]) -> None:
        for root in paths:
            if root.is_dir():
                prefix = str(root.resolve()) + os.sep
                under = self.collection.documents_under(prefix)
                gone = [doc_id for doc_id in under if doc_id not in self.seen]
                self.report.removed += self.collection.delete(gone) if gone else 0
                self.store.forget_files([p for p in {under[d] for d in gone} if not Path(p).exists()])
