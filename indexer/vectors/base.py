"""The small interface every vector index implements, and the faiss plumbing the kinds share.

Vectors are L2-normalized, so inner product is cosine similarity. Ids are SQLite chunk ids.
The index is always rebuildable from SQLite; it is a cache, not a store. Kinds: vectors.flat
(exact), vectors.ann (HNSW, IVF, auto), vectors.pq (IVF-PQ with exact re-scoring); vectors.factory makes and loads them by name.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np

ANN_THRESHOLD = 100_000  # chunks past which an auto index turns approximate (setting: ann_threshold)
IVFPQ_THRESHOLD = 5_000_000  # chunks past which an auto index moves to IVF-PQ (setting: ivfpq_threshold)

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


def gpu_copy(owner, index, options=None):
    """A copy of a CPU faiss index on GPU 0, with GPU resources created once per owning object."""
    faiss = faiss_module()
    if getattr(owner, "_gpu_resources", None) is None:
        owner._gpu_resources = faiss.StandardGpuResources()
    if options is None:
        return faiss.index_cpu_to_gpu(owner._gpu_resources, 0, index)
    return faiss.index_cpu_to_gpu(owner._gpu_resources, 0, index, options)


def ivf_lists(count: int) -> int:
    """Inverted lists for `count` training vectors: ~4 sqrt(n), with the 39 points per list faiss wants."""
    return max(1, min(int(4 * math.sqrt(count)), count // 39))


def ivf_ids(index) -> np.ndarray:
    """Every id an IVF index (flat or PQ) holds, read from its inverted lists."""
    faiss = faiss_module()
    invlists = index.invlists
    parts = [
        faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
        for i in range(index.nlist)
        if invlists.list_size(i)
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


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

    def attach(self, lookup) -> None:
        """Give the index a way to read stored float32 vectors by chunk id (see vectors.pq.Lookup).

        Only kinds that keep compressed codes use it (IVF-PQ re-scores its candidates with it)."""

    @classmethod
    def create(
        cls, dimension: int, ann_threshold: int = ANN_THRESHOLD, ann_type: str = "hnsw", ivfpq_threshold: int = IVFPQ_THRESHOLD
    ) -> "VectorIndex":
        """A new, empty index; kinds that do not switch ignore the threshold and type options."""
        return cls(dimension)

    @classmethod
    def load(
        cls, path: Path, dimension: int, ann_threshold: int = ANN_THRESHOLD, ann_type: str = "hnsw", ivfpq_threshold: int = IVFPQ_THRESHOLD
    ) -> "VectorIndex":
        """A saved index; the threshold and type options matter only to kinds that switch (auto)."""
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
