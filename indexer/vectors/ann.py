"""Approximate indexes for large collections, and the "auto" index that switches to one past a threshold.

HNSW (IndexHNSWFlat, inner product) answers in ~1 ms at millions of vectors but cannot delete: removed ids
become tombstones, filtered out of results and compacted away (a rebuild from the stored vectors) when they
pass a fraction of the index or before it is saved. IVF (IndexIVFFlat) deletes natively but must be trained,
so it is only built from existing vectors, which is what the auto index does when it switches. Past a
second, larger threshold the auto index moves on to IVF-PQ (vectors.pq), which keeps compressed codes only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexer.vectors.base import (
    ANN_THRESHOLD,
    IVFPQ_THRESHOLD,
    FaissIndex,
    VectorIndex,
    faiss_module,
    ivf_ids,
    ivf_lists,
    read_id_mapped,
)
from indexer.vectors.flat import FlatFaissIndex
from indexer.vectors.pq import IvfPqFaissIndex, Lookup, read_ivfpq_or_flat

ANN_TYPES = ("hnsw", "ivf", "ivfpq")

HNSW_M = 32  # graph degree: memory ~ M * 2 * 4 bytes per vector on top of the vectors themselves
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256
COMPACT_FRACTION = 0.2  # rebuild once tombstones are this share of the graph


class HnswFaissIndex(FaissIndex):
    kind = "hnsw"

    def __init__(self, dimension: int, index=None, ef_search: int = HNSW_EF_SEARCH):
        super().__init__(dimension)
        faiss = faiss_module()
        self._faiss = faiss
        if index is None:
            hnsw = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index = faiss.IndexIDMap2(hnsw)
        self.index = index
        self._hnsw = faiss.downcast_index(index.index)
        self._hnsw.hnsw.efSearch = ef_search
        self._removed: set[int] = set()

    def _stored_ids(self) -> np.ndarray:
        return self._faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def _compact(self) -> None:
        """Rebuild the graph from the live vectors (HNSW has no delete)."""
        stored = self._stored_ids()
        keep = np.flatnonzero(~np.isin(stored, np.fromiter(self._removed, np.int64, len(self._removed))))
        vectors = self._hnsw.reconstruct_n(0, self._hnsw.ntotal)[keep] if len(keep) else np.zeros((0, self.dimension), np.float32)
        fresh = HnswFaissIndex(self.dimension, ef_search=self._hnsw.hnsw.efSearch)
        if len(keep):
            fresh.index.add_with_ids(np.ascontiguousarray(vectors), stored[keep])
        self.index, self._hnsw, self._removed = fresh.index, fresh._hnsw, set()

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if self._removed and self._removed.intersection(ids.tolist()):
            self._compact()  # an id coming back must not be hidden by its own tombstone
        self.index.add_with_ids(vectors, ids)

    def _remove(self, ids: np.ndarray) -> None:
        stored = self._stored_ids()
        self._removed.update(int(i) for i in ids[np.isin(ids, stored)])
        if len(self._removed) > COMPACT_FRACTION * max(1, self.index.ntotal):
            self._compact()

    def _search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k is at most the live count; tombstoned hits are fetched too, then dropped."""
        fetch = min(self.index.ntotal, k + len(self._removed))
        scores, ids = self.index.search(query, fetch)
        removed = self._removed
        if not removed:
            return scores, ids
        out_scores = np.full((len(query), k), -np.inf, np.float32)
        out_ids = np.full((len(query), k), -1, np.int64)
        for row in range(len(query)):
            keep = [j for j, i in enumerate(ids[row]) if i >= 0 and int(i) not in removed][:k]
            out_scores[row, : len(keep)] = scores[row, keep]
            out_ids[row, : len(keep)] = ids[row, keep]
        return out_scores, out_ids

    def ids(self) -> np.ndarray:
        with self._lock:
            stored = self._stored_ids()
            if not self._removed:
                return stored
            return stored[~np.isin(stored, list(self._removed))]

    def __len__(self) -> int:
        return int(self.index.ntotal) - len(self._removed)

    def save(self, path: Path) -> None:
        with self._lock:
            if self._removed:
                self._compact()  # tombstones live in memory only; the file must hold exactly the live ids
            self._faiss.write_index(self.index, str(path))

    def live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._removed:
                self._compact()
            return self._stored_ids(), self._hnsw.reconstruct_n(0, self._hnsw.ntotal)

    @classmethod
    def load(cls, path: Path, dimension: int, *options) -> "HnswFaissIndex":
        return cls(dimension, read_id_mapped(path, dimension, "IndexHNSWFlat"))


class IvfFaissIndex(FaissIndex):
    """IndexIVFFlat (inner product), trained on the vectors it is built from; deletes natively."""

    kind = "ivf"

    def __init__(self, dimension: int, index):
        super().__init__(dimension)
        faiss = faiss_module()
        self._faiss = faiss
        self.index = index
        self.index.nprobe = max(8, index.nlist // 16)

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray) -> "IvfFaissIndex":
        faiss = faiss_module()
        dimension = vectors.shape[1]
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, ivf_lists(len(vectors)), faiss.METRIC_INNER_PRODUCT)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index.train(vectors)
        index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
        return cls(dimension, index)

    def ids(self) -> np.ndarray:
        with self._lock:
            return ivf_ids(self.index)

    def live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            ids = ivf_ids(self.index)
            self.index.set_direct_map_type(self._faiss.DirectMap.Hashtable)  # reconstruct by id; ids are not 0..n-1
            vectors = np.stack([self.index.reconstruct(int(i)) for i in ids]) if len(ids) else np.zeros((0, self.dimension), np.float32)
            self.index.set_direct_map_type(self._faiss.DirectMap.NoMap)
            return ids, vectors


class AutoIndex(VectorIndex):
    """Exact (flat) search while small; past `threshold` vectors it rebuilds itself as an approximate index,
    and past `ivfpq_threshold` as IVF-PQ (codes only, re-scored from the stored vectors)."""

    kind = "auto"

    def __init__(
        self,
        dimension: int,
        threshold: int = ANN_THRESHOLD,
        ann_type: str = "hnsw",
        inner: VectorIndex | None = None,
        ivfpq_threshold: int = IVFPQ_THRESHOLD,
    ):
        super().__init__(dimension)
        if ann_type not in ANN_TYPES:
            raise ValueError(f"unknown approximate index {ann_type!r}: use one of {', '.join(ANN_TYPES)}")
        self.threshold = threshold
        self.ann_type = ann_type
        self.ivfpq_threshold = ivfpq_threshold
        self.lookup: Lookup | None = None
        self.inner: VectorIndex = inner if inner is not None else FlatFaissIndex(dimension)

    @classmethod
    def create(
        cls, dimension: int, ann_threshold: int = ANN_THRESHOLD, ann_type: str = "hnsw", ivfpq_threshold: int = IVFPQ_THRESHOLD
    ) -> "AutoIndex":
        return cls(dimension, ann_threshold, ann_type, ivfpq_threshold=ivfpq_threshold)

    @property
    def approximate(self) -> bool:
        return not isinstance(self.inner, FlatFaissIndex)

    def attach(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.inner.attach(lookup)

    def _target(self) -> str | None:
        """The kind the index should become now, or None to stay as it is (it never steps back)."""
        count = len(self.inner)
        if isinstance(self.inner, IvfPqFaissIndex):
            return None
        if count > self.ivfpq_threshold or (count > self.threshold and self.ann_type == "ivfpq"):
            return "ivfpq"
        if count > self.threshold and not self.approximate:
            return self.ann_type
        return None

    def _switch(self, target: str) -> None:
        ids, vectors = self.inner.live_vectors()
        if target == "ivfpq":
            self.inner = IvfPqFaissIndex.build(ids, vectors, self.lookup)
        elif target == "ivf":
            self.inner = IvfFaissIndex.build(ids, vectors)
        else:
            hnsw = HnswFaissIndex(self.dimension)
            hnsw.add(ids, vectors)
            self.inner = hnsw

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        with self._lock:
            self.inner.add(ids, vectors)
            target = self._target()
            if target is not None:
                self._switch(target)

    def remove(self, ids: np.ndarray) -> None:
        self.inner.remove(ids)  # it stays approximate below the threshold: no flapping around it

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.inner.search(query, k)

    def ids(self) -> np.ndarray:
        return self.inner.ids()

    def __len__(self) -> int:
        return len(self.inner)

    def save(self, path: Path) -> None:
        self.inner.save(path)

    @classmethod
    def load(
        cls, path: Path, dimension: int, ann_threshold: int = ANN_THRESHOLD, ann_type: str = "hnsw", ivfpq_threshold: int = IVFPQ_THRESHOLD
    ) -> "AutoIndex":
        faiss = faiss_module()
        index = faiss.read_index(str(path))
        if index.d != dimension:
            raise ValueError(f"index file has dimension {index.d}, expected {dimension}")
        if isinstance(index, faiss.IndexIVFPQ):
            inner: VectorIndex = IvfPqFaissIndex(dimension, read_ivfpq_or_flat(path, dimension))
        elif isinstance(index, faiss.IndexIVFFlat):
            inner = IvfFaissIndex(dimension, index)
        elif isinstance(index, faiss.IndexIDMap2) and isinstance(faiss.downcast_index(index.index), faiss.IndexHNSWFlat):
            inner = HnswFaissIndex(dimension, index)
        elif isinstance(index, faiss.IndexIDMap2) and isinstance(faiss.downcast_index(index.index), faiss.IndexFlat):
            inner = FlatFaissIndex(dimension, index)
        else:
            raise ValueError(f"index file holds an unexpected {type(index).__name__}")
        return cls(dimension, ann_threshold, ann_type, inner, ivfpq_threshold)
