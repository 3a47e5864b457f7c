"""A collection is one directory: manifest + SQLite (truth) + a FAISS index derived from it.

The FAISS file is stamped with the SQLite generation it covers. On open, a missing, stale or
corrupt index is caught up or rebuilt from SQLite, so a crash costs time, never data.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from indexer.chunker import ChunkerSettings
from indexer.errors import EmbedderMismatch, QuarryError
from indexer.store import PreparedDocument, Store, WriteResult
from indexer.vector_index import VectorIndex, create_index, load_index

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "collection.json"
DATABASE = "quarry.sqlite"
INDEX_FILE = "vectors.faiss"
INDEX_STAMP = "vectors.json"


def same_embedder(a: str, b: str) -> bool:
    """Names that differ only by the sentence-transformers/ hub prefix mean the same model."""
    strip = lambda ref: ref.strip().removeprefix("sentence-transformers/").rstrip("/")  # noqa: E731
    return strip(a) == strip(b)


@dataclass
class Manifest:
    name: str
    embedder: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    index_type: str = "flat"  # flat (exact), hnsw, or auto (flat until ann_threshold chunks, then ann_type)
    ann_threshold: int = 100_000
    ann_type: str = "hnsw"
    format_version: int = FORMAT_VERSION
    created_at: float = 0.0

    @property
    def chunker_settings(self) -> ChunkerSettings:
        return ChunkerSettings(self.chunk_size, self.chunk_overlap)

    def write(self, directory: Path) -> None:
        atomic_write_text(directory / MANIFEST, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, directory: Path) -> "Manifest":
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise QuarryError(f"cannot read {path}: {exc}") from exc
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise QuarryError(f"{path}: format version {version} is not supported (this quarry reads {FORMAT_VERSION})")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


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
    def __init__(self, directory: Path, manifest: Manifest):
        self.directory = Path(directory)
        self.manifest = manifest
        self.store = Store(str(self.directory / DATABASE))
        self._write_lock = threading.Lock()  # one writer per collection in this process
        self._sync_lock = threading.Lock()
        self.index: VectorIndex = self._open_index()
        self._dirty = False

    @property
    def name(self) -> str:
        return self.manifest.name

    # lifecycle -----------------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: Path, manifest: Manifest) -> "Collection":
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=False)
        manifest.created_at = manifest.created_at or time.time()
        collection = cls(directory, manifest)
        manifest.write(directory)  # last: a directory without a manifest is an unfinished create
        return collection

    @classmethod
    def open(cls, directory: Path, embedder: str | None = None, dimension: int | None = None) -> "Collection":
        manifest = Manifest.read(Path(directory))
        check_embedder(manifest, embedder, dimension)
        return cls(Path(directory), manifest)

    def close(self) -> None:
        self.save_index()
        self.store.close()

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # the derived index ---------------------------------------------------------------------------
    def _stamp(self) -> dict:
        try:
            return json.loads((self.directory / INDEX_STAMP).read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def _new_index(self) -> VectorIndex:
        m = self.manifest
        return create_index(m.index_type, m.dimension, m.ann_threshold, m.ann_type)

    def _rebuild(self, reason: str) -> VectorIndex:
        log.warning("collection %s: rebuilding vector index from SQLite (%s)", self.name, reason)
        index = self._new_index()
        for ids, vectors in self.store.iter_vectors():
            index.add(ids, vectors)
        self._dirty = True
        return index

    def _open_index(self) -> VectorIndex:
        self._dirty = False
        path = self.directory / INDEX_FILE
        generation = self.store.generation()
        self._seen_generation = generation
        if not path.exists():
            if self.store.counts()[1] == 0:
                return self._new_index()
            return self._rebuild("index file missing")
        try:
            m = self.manifest
            index = load_index(m.index_type, path, m.dimension, m.ann_threshold, m.ann_type)
        except Exception as exc:  # a truncated or corrupt file: faiss raises RuntimeError, others possible
            return self._rebuild(f"index file unreadable: {exc}")
        stamp = self._stamp()
        if stamp.get("generation") == generation and stamp.get("count") == len(index):
            return index
        self.index = index
        added, removed = self._catch_up()
        log.warning("collection %s: vector index was stale; caught up from SQLite (+%d, -%d)", self.name, added, removed)
        return index

    def _catch_up(self) -> tuple[int, int]:
        """Make the index hold exactly SQLite's chunk ids, whatever it held before."""
        truth = self.store.chunk_ids()
        held = self.index.ids()
        missing = np.setdiff1d(truth, held, assume_unique=True)
        extra = np.setdiff1d(held, truth, assume_unique=True)
        self.index.remove(extra)
        for i in range(0, len(missing), 10_000):
            part = missing[i : i + 10_000]
            self.index.add(part, self.store.vectors_for(part))
        if len(missing) or len(extra):
            self._dirty = True
        return len(missing), len(extra)

    def refresh(self) -> None:
        """Pick up writes made by another process (the CLI indexing while the server runs)."""
        generation = self.store.generation()
        if generation == self._seen_generation:
            return
        with self._sync_lock:
            if generation != self._seen_generation:
                self._catch_up()
                self._seen_generation = generation

    def save_index(self) -> None:
        with self._sync_lock:
            if not self._dirty:
                return
            path = self.directory / INDEX_FILE
            tmp = path.with_name(path.name + ".tmp")
            generation = self._seen_generation
            self.index.save(tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            atomic_write_text(self.directory / INDEX_STAMP, json.dumps({"generation": generation, "count": len(self.index)}))
            self._dirty = False

    # writes --------------------------------------------------------------------------------------
    def _apply(self, result: WriteResult) -> None:
        with self._sync_lock:
            self.index.remove(result.removed_ids)
            self.index.add(result.added_ids, result.added_vectors)
            self._dirty = True
            if result.generation == self._seen_generation + 1:
                self._seen_generation = result.generation
        self.refresh()  # another process wrote in between: reconcile by ids

    def write(self, prepared: list[PreparedDocument]) -> WriteResult:
        if not prepared:
            raise ValueError("nothing to write")
        with self._write_lock:
            result = self.store.write_documents(prepared)
            self._apply(result)
        return result

    def delete(self, doc_ids: list[str]) -> int:
        if not doc_ids:
            return 0
        with self._write_lock:
            existed, result = self.store.delete_documents(doc_ids)
            self._apply(result)
        return existed

    # reads ---------------------------------------------------------------------------------------
    def dense_search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        self.refresh()
        scores, ids = self.index.search(query_vector, k)
        if ids.size == 0:
            return []
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def lexical_search(self, query: str, k: int) -> list[tuple[int, float]]:
        return self.store.lexical_search(query, k)

    def counts(self) -> dict:
        documents, chunks = self.store.counts()
        return {"documents": documents, "chunks": chunks}
