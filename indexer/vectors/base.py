"""The small interface every vector index implements, and the faiss plumbing the kinds share.

Vectors are L2-normalized, so inner product is cosine similarity. Ids are SQLite chunk ids.
The index is always rebuildable from SQLite; it is a cache, not a store. Kinds: vectors.flat
(exact), vectors.ann (HNSW, IVF, auto); vectors.factory makes and loads them by name.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

FAISS_INSTALL = 'pip install "quarry[cpu]" (faiss-cpu), or "quarry[gpu]" on a CUDA machine (faiss-gpu)'


def faiss_module():
    """The faiss package, whichever build is installed; one clear error with the pip command if none is."""
    try:
        import faiss
    except ImportError as exc:
        from indexer.errors import QuarryError

        raise QuarryError(f"faiss is not installed: {FAISS_INSTALL}") from exc
    return faiss


def faiss_gpus() -> int:
    """GPUs faiss can use: 0 with faiss-cpu (the usual build), or when none is present."""
    faiss = faiss_module()

    getter = getattr(faiss, "get_num_gpus", None)
    return int(getter()) if getter else 0


_faiss_threads = 0
_thread_state = threading.local()


def set_faiss_threads(threads: int) -> None:
    """OpenMP threads for faiss searches (0: leave faiss's default, one per core).

    A search service sends one query at a time and gets its concurrency from request threads; OpenMP
    fan-out per query then costs more than it saves (flat search over 2,000 vectors: 0.15 ms with 1 thread,
    20 ms with 2 on the 2-core dev machine). OpenMP's thread count is per calling thread, so searches
    apply it in whichever thread they run (see use_faiss_threads).
    """
    global _faiss_threads
    _faiss_threads = max(0, int(threads))
    _thread_state.applied = None
    use_faiss_threads()


def use_faiss_threads() -> None:
    """Apply the configured thread count in the current thread, once."""
    if _faiss_threads and getattr(_thread_state, "applied", None) != _faiss_threads:
        faiss = faiss_module()
        faiss.omp_set_num_threads(_faiss_threads)
        _thread_state.applied = _faiss_threads


def read_id_mapped(path: Path, dimension: int, inner: str):
    """A saved IndexIDMap2 over a faiss index of class `inner`; ValueError (so the caller rebuilds) otherwise."""
    faiss = faiss_module()
    index = faiss.read_index(str(path))
    if index.d != dimension:
        raise ValueError(f"index file has dimension {index.d}, expected {dimension}")
    if not isinstance(index, faiss.IndexIDMap2) or not isinstance(faiss.downcast_index(index.index), getattr(faiss, inner)):
        raise ValueError(f"index file holds a {type(index).__name__}, expected an IndexIDMap2 over {inner}")
    return index


class VectorIndex:
    """Base class: add, remove, search by chunk id. Thread-safe for concurrent searches and one writer."""

    kind = "base"

    def __init__(self, dimension: int):
        self.dimension = dimension
        self._lock = threading.RLock()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        raise NotImplementedError

    def remove(self, ids: np.ndarray) -> None:
        raise NotImplementedError

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """query: (d,) or (n, d) -> (scores, ids) of shape (n, k'); ids -1 pad missing results."""
        raise NotImplementedError

    def ids(self) -> np.ndarray:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def save(self, path: Path) -> None:
        raise NotImplementedError

    @classmethod
    def create(cls, dimension: int, ann_threshold: int = 100_000, ann_type: str = "hnsw") -> "VectorIndex":
        """A new, empty index; kinds that do not switch ignore the ann_* options."""
        return cls(dimension)

    @classmethod
    def load(cls, path: Path, dimension: int, ann_threshold: int = 100_000, ann_type: str = "hnsw") -> "VectorIndex":
        """A saved index; the ann_* options matter only to kinds that switch (auto)."""
        raise NotImplementedError


class FaissIndex(VectorIndex):
    """A faiss index with ids (`self.index`): the checks, locking and empty cases every kind shares.

    Subclasses change what differs through `_add`, `_remove` and `_search`, each called under the lock.
    """

    index = None  # set by subclasses
    _faiss = None

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add_with_ids(vectors, ids)

    def _remove(self, ids: np.ndarray) -> None:
        self.index.remove_ids(ids)

    def _search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(query, k)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"vector dimension {vectors.shape[1]} does not match index dimension {self.dimension}")
        with self._lock:
            self._add(np.ascontiguousarray(ids, dtype=np.int64), vectors)

    def remove(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            self._remove(np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        query = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
        use_faiss_threads()
        with self._lock:
            k = min(k, len(self))
            if k <= 0:
                return np.zeros((len(query), 0), np.float32), np.zeros((len(query), 0), np.int64)
            return self._search(query, k)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def save(self, path: Path) -> None:
        with self._lock:
            self._faiss.write_index(self.index, str(path))
