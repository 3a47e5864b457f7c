"""A collection is one directory (see indexer.layout): manifest + SQLite segments (truth) + a FAISS index derived from them.

The base database (`quarry.sqlite`) is written in place and is the commit point; sealed segments
(indexer.segments) join through its segment list. One FAISS index covers every live row of every
segment (collection-wide ids, see indexer.segments), stamped with the base generation it covers. On
open, a missing, stale or corrupt index is caught up or rebuilt from SQLite, so a crash costs time,
never data.

Why one combined vector index rather than one per segment: the index is a derived cache either way;
one keeps the flat -> HNSW -> IVF-PQ thresholds and training about the whole collection, and makes a
search cost the same however many segments there are. A commit adds the new segment's vectors to it,
as a write to the base always did.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from indexer.errors import CollectionBusy, EmbedderMismatch, QuarryError, StorageError
from indexer.filters import Node, compile_filter
from indexer.languages import shares, tally
from indexer.layout import DATABASE, INDEX_FILE, Manifest, read_stamp, save_index_files
from indexer.lexical import lexical_search
from indexer.locking import WriterLock
from indexer.segment_set import SegmentSet
from indexer.segments import SegmentInfo, ensure_tables, global_id, located, next_ordinal, segment_path, split_ids
from indexer.documents import normalize_doc_id
from indexer.store import PreparedDocument, Store, StoredChunk, StoredDocument, WriteResult
from indexer.vectors.base import VectorIndex
from indexer.vectors.factory import create_index, load_index

log = logging.getLogger(__name__)
Filter = Node | dict | None  # a metadata filter: the JSON spec or its parsed tree (indexer.filters)

LANGUAGE_SAMPLE = 300  # documents read to estimate the languages of a collection that never recorded them


def same_embedder(a: str, b: str) -> bool:
    """Names that differ only by the sentence-transformers/ hub prefix mean the same model."""
    strip = lambda ref: ref.strip().removeprefix("sentence-transformers/").rstrip("/")  # noqa: E731
    return strip(a) == strip(b)


_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def storage_error(exc: BaseException, name: str, directory: Path) -> QuarryError | None:
    """Turn a refused write into one clear line for the user; None when `exc` is not about storage."""
    where = f"collection {name!r} ({directory})"
    message = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError):
        if "database is locked" in message or "database is busy" in message:
            return CollectionBusy(f"{where} is busy: another process holds its database; retry when it finishes")
        if "disk is full" in message:
            kind = "full"
        elif "readonly" in message or "read-only" in message or "unable to open" in message:
            kind = "read-only"
        elif "disk i/o error" in message:
            kind = "io"
        else:
            return None
    elif isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        kind = "full"
    elif isinstance(exc, OSError) and exc.errno in _READ_ONLY:
        kind = "read-only"
    else:
        return None
    advice = {
        "full": "the disk is full; free some space and run the same command again",
        "read-only": "the data directory is read-only or not writable by this user; "
        "fix its permissions or point QUARRY_DATA_DIR at a writable directory",
        "io": "the disk reported an I/O error; check it, then run `quarry check` on this collection",
    }[kind]
    return StorageError(f"cannot write to {where}: {advice} (nothing was half-written: {exc})")


def check_embedder(manifest: Manifest, embedder: str | None, dimension: int | None) -> None:
    """Vectors from another embedder are garbage to this collection: refuse, and say how to fix it."""
    if embedder is not None and not same_embedder(manifest.embedder, embedder):
        raise EmbedderMismatch(
            f"collection {manifest.name!r} was built with embedder {manifest.embedder!r} "
            f"(dimension {manifest.dimension}) but the configured embedder is {embedder!r}; "
            f"set QUARRY_EMBEDDER={manifest.embedder} or index into a new collection"
        )
    if dimension is not None and dimension != manifest.dimension:
        raise EmbedderMismatch(
            f"collection {manifest.name!r} holds {manifest.dimension}-dimensional vectors but the "
            f"configured embedder makes {dimension}-dimensional ones; use the embedder it was built with"
        )


class Collection:
    def __init__(self, directory: Path, manifest: Manifest, lock_timeout: float = 30.0):
        self.directory = Path(directory)
        self.manifest = manifest
        # one writer per collection, across threads and processes; readers never wait for it
        self.writer_lock = WriterLock(self.directory, manifest.name, lock_timeout)
        self._sync_lock = threading.Lock()  # guards self.index against catch-up racing a write's delta
        self._languages: tuple[int, dict[str, float]] | None = None  # (generation, shares): searches ask often
        self._sampled_languages: tuple[int, dict[str, int]] | None = None  # (documents, counts) for old collections
        with self._storage_errors():
            self.store = Store(str(self.directory / DATABASE))
            self.segments = SegmentSet(self.directory, self.store)
            self.segments.refresh(self.store.generation())
            self.index: VectorIndex = self._open_index()

    @property
    def name(self) -> str:
        return self.manifest.name

    # lifecycle -----------------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: Path, manifest: Manifest, lock_timeout: float = 30.0) -> "Collection":
        directory = Path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise storage_error(exc, manifest.name, directory) or exc
        manifest.created_at = manifest.created_at or time.time()
        collection = cls(directory, manifest, lock_timeout)
        with collection._storage_errors():
            manifest.write(directory)  # last: a directory without a manifest is an unfinished create
        return collection

    @classmethod
    def open(
        cls, directory: Path, embedder: str | None = None, dimension: int | None = None, lock_timeout: float = 30.0
    ) -> "Collection":
        manifest = Manifest.read(Path(directory))
        check_embedder(manifest, embedder, dimension)
        return cls(Path(directory), manifest, lock_timeout)

    @contextmanager
    def _storage_errors(self):
        try:
            yield
        except (sqlite3.OperationalError, OSError) as exc:
            mapped = storage_error(exc, self.manifest.name, self.directory)
            if mapped is None:
                raise
            raise mapped from exc

    @contextmanager
    def writing(self, purpose: str = "write", timeout: float | None = None):
        """Hold the collection's write lock (re-entrant): around a whole job, or taken per write."""
        with self._storage_errors(), self.writer_lock.hold(purpose, timeout):
            yield

    def close(self) -> None:
        self.save_index()
        self.segments.close()
        self.store.close()

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # the derived index ---------------------------------------------------------------------------
    def _new_index(self) -> VectorIndex:
        m = self.manifest
        index = create_index(m.index_type, m.dimension, m.ann_threshold, m.ann_type, m.ivfpq_threshold)
        index.attach(self.stored_vectors)
        return index

    def _rebuild(self, reason: str) -> VectorIndex:
        log.warning("collection %s: rebuilding vector index from SQLite (%s)", self.name, reason)
        index = self._new_index()
        with self.store.snapshot():  # the index then holds exactly the generation it is stamped with
            self._seen_generation = self.store.generation()
            self.segments.refresh(self._seen_generation)
            try:
                for ids, vectors in self.store.iter_vectors():
                    index.add(ids, vectors)
                for ids, vectors in self.segments.iter_vectors():
                    index.add(ids, vectors)
            except ValueError as exc:  # a vector blob of the wrong size
                raise QuarryError(
                    f"collection {self.name!r}: stored vectors are damaged ({exc}); run `quarry check --repair -c {self.name}`"
                ) from exc
        self._dirty = True
        return index

    def _open_index(self) -> VectorIndex:
        self._dirty = False
        path = self.directory / INDEX_FILE
        generation = self.store.generation()
        self._seen_generation = generation
        if not path.exists():
            if self.counts()["chunks"] == 0:
                return self._new_index()
            return self._rebuild("index file missing")
        try:
            m = self.manifest
            index = load_index(m.index_type, path, m.dimension, m.ann_threshold, m.ann_type, m.ivfpq_threshold)
            index.attach(self.stored_vectors)
        except Exception as exc:  # a truncated or corrupt file: faiss raises RuntimeError, others possible
            return self._rebuild(f"index file unreadable: {exc}")
        stamp = read_stamp(self.directory)
        if stamp.get("generation") == generation and stamp.get("count") == len(index):
            return index
        self.index = index
        added, removed = self._catch_up()
        self._dirty = True  # even when nothing moved, the stamp must be rewritten or every open says "stale"
        log.warning("collection %s: vector index was stale; caught up from SQLite (+%d, -%d)", self.name, added, removed)
        return index

    def _catch_up(self) -> tuple[int, int]:
        """Make the index hold exactly SQLite's chunk ids at one generation, whatever it held before.

        Reads run in one snapshot, so `_seen_generation` names exactly what the index holds; a write's
        delta is then applied only on top of the generation it was made from (see `_apply`).
        """
        with self.store.snapshot():
            generation = self.store.generation()
            self.segments.refresh(generation)
            truth = self.store.chunk_ids()
            if self.segments:
                truth = np.union1d(truth, self.segments.chunk_ids())
            held = self.index.ids()
            missing = np.setdiff1d(truth, held, assume_unique=True)
            extra = np.setdiff1d(held, truth, assume_unique=True)
            self.index.remove(extra)
            for i in range(0, len(missing), 10_000):
                part = missing[i : i + 10_000]
                found, vectors = self._present_vectors(part)
                if len(found) != len(part):
                    raise KeyError(f"chunks not stored: {sorted(set(part.tolist()) - set(found.tolist()))[:10]}")
                self.index.add(found, vectors)
        self._seen_generation = generation
        if len(missing) or len(extra):
            self._dirty = True
        return len(missing), len(extra)

    def generation(self) -> int:
        """The committed write counter: it moves with every write, segment commit, merge and optimize."""
        return self.store.generation()

    def refresh(self) -> None:
        """Pick up writes made by another process (the CLI indexing while the server runs)."""
        generation = self.store.generation()
        self.segments.refresh(generation)
        if generation == self._seen_generation:
            return
        with self._sync_lock:
            if self.store.generation() != self._seen_generation:
                self._catch_up()

    def save_index(self, wait: float = 0.0) -> bool:
        """Write vectors.faiss and its stamp; False when skipped (another writer busy, or the disk refused).

        Taken under the write lock so two processes never pair one's index file with the other's stamp.
        The file is a cache: failing to save it costs a catch-up on the next open, never data.
        """
        if not self._dirty:
            return True
        try:
            with self.writing("saving the vector index", timeout=wait if not self.writer_lock.held else None):
                self._save_index_locked()
        except CollectionBusy:
            log.info("collection %s: vector index not saved, another writer holds the lock", self.name)
            return False
        except (OSError, QuarryError) as exc:
            log.warning("collection %s: vector index not saved (%s); it is caught up from SQLite on next open", self.name, exc)
            return False
        return True

    def _save_index_locked(self) -> None:
        with self._sync_lock:
            if not self._dirty:
                return
            save_index_files(self.directory, self.index, self._seen_generation)
            self._dirty = False

    # writes --------------------------------------------------------------------------------------
    def _apply(self, result: WriteResult) -> None:
        """Apply a committed write to the index: as a delta when the index is exactly one generation
        behind, else (a reader already caught up, or another process wrote too) reconcile by ids."""
        with self._sync_lock:
            if result.generation == self._seen_generation + 1:
                self.index.remove(result.removed_ids)
                self.index.add(result.added_ids, result.added_vectors)
                self._seen_generation = result.generation
                self._dirty = True
            elif result.generation > self._seen_generation:
                self._catch_up()
            # else: a search's refresh already caught up past this write

    def write(self, prepared: list[PreparedDocument]) -> WriteResult:
        if not prepared:
            raise ValueError("nothing to write")
        with self.writing():
            dead = self._sealed_rows([p.document.doc_id for p in prepared])
            result = self.store.write_documents(prepared)
            result.removed_ids = np.concatenate([result.removed_ids, dead])
            self._apply(result)
            self._record_languages()
        return result

    def _sealed_rows(self, doc_ids: list[str]) -> np.ndarray:
        """Ids of the rows sealed segments hold for these documents (under the write lock: stable until our commit)."""
        if not self.segments:
            return np.zeros(0, np.int64)
        return self.segments.removed_rows(located(self.store.conn, doc_ids))

    def commit_segments(self, names: list[str], deletes: list[str] | None = None) -> WriteResult:
        """The commit of indexer.segments.commit_segments: make sealed segments live (a later one wins a
        document over an earlier one, over the base and over older segments) and delete `deletes`, in one
        transaction on the base. Segments already live are skipped, so a retried commit does nothing twice."""
        deletes = [normalize_doc_id(d) for d in deletes or []]
        with self.writing("committing segments"):
            self.refresh()
            live = {name for name, _ in self.segments.live}
            fresh = [n for n in dict.fromkeys(names) if n not in live]
            held: dict[str, list[tuple[str, str, str, int]]] = {}
            for name in fresh:
                path = segment_path(self.directory, name)
                try:
                    SegmentInfo.read(path)
                    held[name] = Store.read_directory(path / DATABASE)
                except (OSError, ValueError, sqlite3.DatabaseError) as exc:
                    raise QuarryError(
                        f"collection {self.name!r}: segment {name!r} cannot be committed: it is missing or unfinished at {path} "
                        f"({exc}); writers must write into this collection's folder (a filesystem the committer shares)"
                    ) from exc
            winner = {doc_id: name for name in fresh for doc_id, *_ in held[name]}
            replaced = [d for d in winner if d not in deletes]
            dead = self._sealed_rows(replaced + deletes)
            with self.store.transaction() as conn:
                ensure_tables(conn)
                _, removed = self.store.drop_documents(conn, replaced + deletes)
                ordinals = {}
                for name in fresh:
                    ordinals[name] = next_ordinal(conn)
                    rows = [r for r in held[name] if winner[r[0]] == name and r[0] not in deletes]
                    conn.executemany("INSERT INTO segment_documents VALUES (?, ?, ?, ?, ?)", [(d, name, h, src, n) for d, h, src, n in rows])
                    conn.execute(
                        "INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?)",
                        (name, ordinals[name], len(held[name]), sum(r[3] for r in held[name]), SegmentInfo.read(segment_path(self.directory, name)).digest, time.time()),
                    )
                generation = self.store._bump_generation(conn)
            self.segments.refresh(generation)
            added, vectors = [], []
            for name in fresh:
                local, _ = self.segments.live_chunks(name)
                if len(local):
                    added.append(global_id(ordinals[name], local).astype(np.int64))
                    vectors.append(self.segments.store(name).vectors_for(local))
            dim = self.manifest.dimension
            result = WriteResult(
                np.concatenate(added) if added else np.zeros(0, np.int64),
                np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32),
                np.concatenate([np.asarray(removed, np.int64), dead]),
                generation,
            )
            self._apply(result)
            self._record_languages()
        return result

    def languages(self) -> dict[str, float]:
        """Share of the stored text per detected language, largest first ({} for an empty collection).

        Documents written before languages were recorded have no entry; while they are most of the
        collection, the shares are estimated from a sample of its documents (read only, kept until the
        document count moves by a fifth), so an old collection is judged like a new one.
        """
        generation = self.store.generation()
        if self._languages is not None and self._languages[0] == generation:
            return self._languages[1]
        counts, recorded = self.store.language_counts()
        if self.segments:
            more, n = self.segments.language_counts()
            recorded += n
            for language, chars in more.items():
                counts[language] = counts.get(language, 0) + chars
        documents = self.counts()["documents"]
        if documents and recorded < documents / 2:
            sampled = self._sampled_languages
            if sampled is None or abs(sampled[0] - documents) > documents / 5:
                sampled = self._sampled_languages = (documents, tally(self.store.sample_texts(LANGUAGE_SAMPLE)))
            counts = sampled[1]
        self._languages = (generation, shares(counts, digits=2))
        return self._languages[1]

    def _record_languages(self) -> None:
        """Mirror the language shares into the manifest when they moved (under the write lock)."""
        current = self.languages()
        if current != self.manifest.languages:
            self.manifest.languages = current
            with self._storage_errors():
                self.manifest.write(self.directory)

    def delete(self, doc_ids: list[str]) -> int:
        if not doc_ids:
            return 0
        with self.writing():
            dead = self._sealed_rows([normalize_doc_id(d) for d in doc_ids])
            existed, result = self.store.delete_documents(doc_ids)
            result.removed_ids = np.concatenate([result.removed_ids, dead])
            self._apply(result)
            self._record_languages()
        return existed

    # reads ---------------------------------------------------------------------------------------
    # The service reads only through these: it passes filters (indexer.filters), never SQL, and never
    # touches the store (Haystack's document stores and Chroma's metadata segment draw the same line).
    def dense_search(self, query_vector: np.ndarray, k: int, filter: Filter = None) -> list[tuple[int, float]]:
        """[(chunk id, cosine)] best first; with a filter, the k best chunks whose documents match it."""
        self.refresh()
        where = compile_filter(filter)
        if where is None:
            return self._dense(query_vector, k)
        fetch = max(k * 4, 64)  # over-fetch from the vector index, keep matches; grow until enough or exhausted
        while True:
            found = self._dense(query_vector, fetch)
            keep = self._chunks_matching([cid for cid, _ in found], where)
            hits = [(cid, score) for cid, score in found if cid in keep]
            if len(hits) >= k or len(found) < fetch:
                return hits[:k]
            fetch *= 4

    def _dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        scores, ids = self.index.search(query_vector, k)
        if ids.size == 0:
            return []
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def lexical_search(self, query: str, k: int, filter: Filter = None) -> list[tuple[int, float]]:
        """[(chunk id, BM25)] best first, only chunks whose documents match the filter when one is given."""
        self.refresh()
        where = compile_filter(filter)
        if not self.segments:
            return self.store.lexical_search(query, k, where)
        return lexical_search(self.store, self.segments, query, k, where)

    def _chunks_matching(self, chunk_ids: list[int], where) -> set[int]:
        if not self.segments:
            return self.store.chunks_matching(chunk_ids, where)
        keep: set[int] = set()
        for ordinal, local in split_ids(chunk_ids).items():
            keep |= self.store.chunks_matching(local, where) if ordinal == 0 else self.segments.chunks_matching(ordinal, local, where)
        return keep

    def chunks(self, chunk_ids: Iterable[int]) -> dict[int, StoredChunk]:
        """Chunks with their documents' title, source and metadata, all read from one committed state."""
        if not self.segments:
            return self.store.chunks_by_id(chunk_ids)
        by_ordinal = split_ids(chunk_ids)
        with self.store.snapshot():
            found = self.store.chunks_by_id(by_ordinal.pop(0, []))
            found.update(self.segments.chunks_by_id(by_ordinal))
        return found

    def _present_vectors(self, chunk_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.segments:
            return self.store.present_vectors(chunk_ids)
        parts = [self.store.present_vectors(local) if ordinal == 0 else self.segments.present_vectors(ordinal, local)
                 for ordinal, local in split_ids(chunk_ids).items()]  # fmt: skip
        parts = [(ids, vecs) for ids, vecs in parts if len(ids)]
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.concatenate([p[0] for p in parts])
        vectors = np.concatenate([p[1] for p in parts])
        order = {int(i): n for n, i in enumerate(ids)}
        pick = [order[int(i)] for i in chunk_ids if int(i) in order]  # back in the order asked
        return ids[pick], vectors[pick]

    def vectors(self, chunk_ids: np.ndarray) -> np.ndarray:
        """The stored (normalized) vectors of these chunks, in order, from one committed state."""
        with self.store.snapshot():
            found, vectors = self._present_vectors(chunk_ids)
        if len(found) != len(chunk_ids):
            raise KeyError(f"chunks not stored: {sorted(set(np.asarray(chunk_ids).tolist()) - set(found.tolist()))[:10]}")
        return vectors

    def stored_vectors(self, chunk_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the chunks among these still stored, their vectors): what a compressed index re-scores with."""
        with self.store.snapshot():
            return self._present_vectors(chunk_ids)

    def content_hashes(self, doc_ids: Iterable[str]) -> dict[str, str]:
        doc_ids = list(doc_ids)
        found = self.store.content_hashes(doc_ids)
        if self.segments:
            found.update(self.segments.content_hashes(d for d in doc_ids if d not in found))
        return found

    def get_document(self, doc_id: str) -> StoredDocument | None:
        found = self.store.get_document(doc_id)
        if found is None and self.segments:
            found = self.segments.get_document(normalize_doc_id(doc_id))
        return found

    def list_documents(self, limit: int = 100, offset: int = 0) -> list[StoredDocument]:
        if not self.segments:
            return self.store.list_documents(limit, offset)
        return [doc for doc_id in self.segments.doc_ids(limit, offset) if (doc := self.get_document(doc_id)) is not None]

    # what the indexing job and `quarry delete` look up (documents by id prefix and by source path)
    def ids_with_prefix(self, prefix: str) -> list[str]:
        return self.store.ids_with_prefix(prefix) + (self.segments.ids_with_prefix(prefix) if self.segments else [])

    def ids_from_source(self, source: str) -> list[str]:
        return self.store.ids_from_source(source) + (self.segments.ids_from_source(source) if self.segments else [])

    def documents_under(self, source_prefix: str) -> dict[str, str]:
        found = self.store.documents_under(source_prefix)
        if self.segments:
            found.update(self.segments.documents_under(source_prefix))
        return found

    def ids_by_source(self) -> dict[str, list[str]]:
        out = self.store.ids_by_source()
        if self.segments:
            for doc_id, source in self.segments.sources("source != ''", ()).items():
                out.setdefault(source, []).append(doc_id)
        return out

    def counts(self) -> dict:
        documents, chunks = self.store.counts()
        if self.segments:
            more = self.segments.counts()
            documents, chunks = documents + more[0], chunks + more[1]
        return {"documents": documents, "chunks": chunks}
