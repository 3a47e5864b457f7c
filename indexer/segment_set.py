"""Reads across a collection's live segments: the base database plus the sealed ones (indexer.segments).

Every read asks each segment and keeps only live rows: a sealed segment's row is live while the base's
document directory (`segment_documents`) points at that segment for its document. Results carry
collection-wide chunk ids (`ordinal << SEGMENT_SHIFT | local id`; the base is ordinal 0). A collection
without sealed segments never gets here beyond one cheap check, so it reads exactly as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from indexer.filters import SqlFilter
from indexer.layout import DATABASE
from indexer.segments import SEGMENT_SHIFT, global_id, live_segments, segment_path, split_ids
from indexer.store import Store, StoredChunk, StoredDocument, escape_like, in_batches

log = logging.getLogger(__name__)


class SegmentSet:
    """The sealed segments of one collection as of the base generation last seen; opened lazily, shared by threads."""

    def __init__(self, directory: Path, base: Store):
        self.directory = Path(directory)
        self.base = base
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._stores: dict[str, Store] = {}
        self.live: list[tuple[str, int]] = []  # (name, ordinal), oldest first

    def refresh(self, generation: int) -> None:
        if generation == self._generation:
            return
        with self._lock:
            if generation == self._generation:
                return
            live = live_segments(self.base.conn)
            names = {name for name, _ in live}
            for name in [n for n in self._stores if n not in names]:
                self._stores.pop(name).close()
            self.live, self._generation = live, generation

    def store(self, name: str) -> Store:
        with self._lock:
            store = self._stores.get(name)
            if store is None:
                path = segment_path(self.directory, name) / DATABASE
                if not path.is_file():
                    raise FileNotFoundError(f"segment {name!r} of {self.directory} is missing ({path})")
                store = self._stores[name] = Store(str(path))
            return store

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
            self._generation = None

    def __bool__(self) -> bool:
        return bool(self.live)

    @property
    def by_ordinal(self) -> dict[int, str]:
        return {ordinal: name for name, ordinal in self.live}

    # liveness ------------------------------------------------------------------------------------
    def live_ids(self, name: str, doc_ids: Iterable[str]) -> set[str]:
        """Which of these documents have their live copy in segment `name`."""
        found: set[str] = set()
        for part, marks in in_batches(list(dict.fromkeys(doc_ids))):
            rows = self.base.conn.execute(
                f"SELECT doc_id FROM segment_documents WHERE segment = ? AND doc_id IN ({marks})", (name, *part)
            )
            found.update(r[0] for r in rows)
        return found

    def live_chunks(self, name: str) -> tuple[np.ndarray, set[str]]:
        """(local chunk ids of live rows, their documents) of one segment, in id order."""
        docs = {r[0] for r in self.base.conn.execute("SELECT doc_id FROM segment_documents WHERE segment = ?", (name,))}
        rows = self.store(name).conn.execute("SELECT chunk_id, doc_id FROM chunks ORDER BY chunk_id").fetchall()
        ids = [cid for cid, doc in rows if doc in docs]
        return np.asarray(ids, dtype=np.int64), docs

    # reads -----------------------------------------------------------------------------------------
    def counts(self) -> tuple[int, int]:
        row = self.base.conn.execute("SELECT COUNT(*), COALESCE(SUM(chunks), 0) FROM segment_documents").fetchone()
        return int(row[0]), int(row[1])

    def content_hashes(self, doc_ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for part, marks in in_batches(list(doc_ids)):
            rows = self.base.conn.execute(f"SELECT doc_id, content_hash FROM segment_documents WHERE doc_id IN ({marks})", part)
            found.update(rows.fetchall())
        return found

    def holder(self, doc_id: str) -> str | None:
        row = self.base.conn.execute("SELECT segment FROM segment_documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else None

    def get_document(self, doc_id: str) -> StoredDocument | None:
        name = self.holder(doc_id)
        return self.store(name).get_document(doc_id) if name else None

    def doc_ids(self, limit: int, offset: int) -> list[str]:
        rows = self.base.conn.execute(
            "SELECT doc_id FROM documents UNION ALL SELECT doc_id FROM segment_documents ORDER BY doc_id LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [r[0] for r in rows]

    def sources(self, where: str, params: tuple) -> dict[str, str]:
        rows = self.base.conn.execute(f"SELECT doc_id, source FROM segment_documents WHERE {where}", params)
        return dict(rows.fetchall())

    def documents_under(self, prefix: str) -> dict[str, str]:
        return self.sources("source LIKE ? ESCAPE '\\'", (escape_like(prefix) + "%",))

    def ids_with_prefix(self, prefix: str) -> list[str]:
        return list(self.sources("doc_id LIKE ? ESCAPE '\\'", (escape_like(prefix) + "%",)))

    def ids_from_source(self, source: str) -> list[str]:
        return list(self.sources("source = ?", (source,)))

    def language_counts(self) -> tuple[dict[str, int], int]:
        counts: dict[str, int] = {}
        recorded = 0
        for name, _ in self.live:
            part, n = self.store(name).language_counts()
            recorded += n
            for language, chars in part.items():
                counts[language] = counts.get(language, 0) + chars
        return counts, recorded

    def chunks_by_id(self, ids: dict[int, list[int]]) -> dict[int, StoredChunk]:
        """Sealed segments' chunks (ordinal -> local ids), keyed by collection-wide id; dead rows left out."""
        found: dict[int, StoredChunk] = {}
        names = self.by_ordinal
        for ordinal, local in ids.items():
            name = names.get(ordinal)
            if name is None:
                continue
            chunks = self.store(name).chunks_by_id(local)
            alive = self.live_ids(name, (c.doc_id for c in chunks.values()))
            for cid, chunk in chunks.items():
                if chunk.doc_id in alive:
                    gid = int(global_id(ordinal, cid))
                    found[gid] = replace(chunk, chunk_id=gid)
        return found

    def present_vectors(self, ordinal: int, local: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(collection-wide ids, vectors) of the live chunks among these local ids of one sealed segment."""
        name = self.by_ordinal.get(ordinal)
        if name is None:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        store = self.store(name)
        ids, vectors = store.present_vectors(np.asarray(local, np.int64))
        if len(ids):
            docs = self.doc_of(store, ids)
            alive = self.live_ids(name, docs.values())
            keep = np.array([docs.get(int(i)) in alive for i in ids], dtype=bool)
            ids, vectors = ids[keep], vectors[keep]
        return global_id(ordinal, ids).astype(np.int64), vectors

    @staticmethod
    def doc_of(store: Store, ids: np.ndarray) -> dict[int, str]:
        out: dict[int, str] = {}
        for part, marks in in_batches([int(i) for i in ids]):
            out.update(store.conn.execute(f"SELECT chunk_id, doc_id FROM chunks WHERE chunk_id IN ({marks})", part).fetchall())
        return out

    def chunks_matching(self, ordinal: int, local: list[int], where: SqlFilter) -> set[int]:
        name = self.by_ordinal.get(ordinal)
        if name is None:
            return set()
        return {int(global_id(ordinal, i)) for i in self.store(name).chunks_matching(local, where)}

    def iter_vectors(self, batch: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every live (collection-wide id, vector) of the sealed segments, a segment at a time."""
        for name, ordinal in self.live:
            local, _ = self.live_chunks(name)
            for i in range(0, len(local), batch):
                part = local[i : i + batch]
                yield global_id(ordinal, part).astype(np.int64), self.store(name).vectors_for(part)

    def chunk_ids(self) -> np.ndarray:
        parts = [global_id(ordinal, self.live_chunks(name)[0]).astype(np.int64) for name, ordinal in self.live]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def removed_rows(self, located: dict[str, str]) -> np.ndarray:
        """Collection-wide ids of the rows these documents (doc id -> holding segment) have in their segments."""
        ordinals = {name: ordinal for name, ordinal in self.live}
        by_segment: dict[str, list[str]] = {}
        for doc_id, name in located.items():
            by_segment.setdefault(name, []).append(doc_id)
        out: list[np.ndarray] = []
        for name, docs in by_segment.items():
            if name not in ordinals:
                continue
            ids = []
            for part, marks in in_batches(docs):
                ids += [r[0] for r in self.store(name).conn.execute(f"SELECT chunk_id FROM chunks WHERE doc_id IN ({marks})", part)]
            out.append(global_id(ordinals[name], np.asarray(ids, np.int64)).astype(np.int64))
        return np.concatenate(out) if out else np.zeros(0, np.int64)


__all__ = ["SegmentSet", "SEGMENT_SHIFT", "split_ids"]
