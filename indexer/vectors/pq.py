"""IVF-PQ for collections too large to hold their float32 vectors in RAM, with exact re-scoring.

The index keeps only product-quantized codes (about d/8 bytes per vector plus an 8-byte id), so the
ranking it produces is approximate in two ways: the inverted lists probed (IVF) and the compressed
distances (PQ). It therefore fetches `rescore_candidates(k)` candidates and re-scores them with exact
inner products against the float32 vectors the collection already stores in SQLite (a `lookup` the
collection attaches); the scores it returns are true cosines, only the candidate set is approximate.

Below IVFPQ_MIN_TRAIN vectors there is nothing worth training on: it is an exact flat index until then,
and trains itself from the vectors it holds when an add crosses the minimum. Used without a lookup
(benchmarks, tests) it keeps its own float32 copy for re-scoring; a loaded index without a lookup
returns the PQ estimates. On a faiss build with GPUs, searches run on a GPU copy of the trained index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from indexer.vectors.base import FaissIndex, faiss_gpus, faiss_module, gpu_copy, ivf_ids, ivf_lists, read_id_mapped

log = logging.getLogger(__name__)

IVFPQ_MIN_TRAIN = 10_000  # 8-bit PQ learns 256 centroids per sub-vector: faiss asks for 39 points per centroid
PQ_BITS = 8
RESCORE_FACTOR = 8  # candidates re-scored exactly per result asked for
RESCORE_MIN = 64

# chunk ids -> (the ids that are still stored, their float32 vectors): what re-scoring reads
Lookup = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def pq_subquantizers(dimension: int) -> int:
    """Bytes per code: the largest divisor of the dimension at most d/8 (384 -> 48, 768 -> 96), but at least
    ~8 while the dimension allows (16 -> 8): a code smaller than its 8-byte id saves nothing worth its recall."""
    target = max(1, dimension // 8, min(8, dimension // 2))
    return max(m for m in range(1, target + 1) if dimension % m == 0)


def rescore_candidates(k: int, total: int) -> int:
    return min(total, max(k * RESCORE_FACTOR, RESCORE_MIN))


class IvfPqFaissIndex(FaissIndex):
    kind = "ivfpq"

    def __init__(self, dimension: int, index=None, lookup: Lookup | None = None, use_gpu: bool | None = None):
        super().__init__(dimension)
        faiss = faiss_module()
        self._faiss = faiss
        # untrained: an exact IndexIDMap2(IndexFlatIP); trained: an IndexIVFPQ (ids and deletes native)
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.lookup = lookup
        self._copy: dict[int, np.ndarray] | None = None  # own float32 copy while trained without a lookup
        self.use_gpu = faiss_gpus() > 0 if use_gpu is None else use_gpu
        self._device_index = None
        if self.trained:
            self._set_nprobe()

    @property
    def trained(self) -> bool:
        return isinstance(self.index, self._faiss.IndexIVFPQ)

    def _set_nprobe(self) -> None:
        self.index.nprobe = max(8, self.index.nlist // 16)

    def attach(self, lookup: Lookup) -> None:
        with self._lock:
            self.lookup = lookup
            self._copy = None

    # building -------------------------------------------------------------------------------------
    def _train(self) -> None:
        """Replace the flat index by an IVF-PQ trained on (and holding) the vectors it had."""
        faiss = self._faiss
        flat = self.index
        ids = faiss.vector_to_array(flat.id_map).astype(np.int64)
        vectors = faiss.downcast_index(flat.index).reconstruct_n(0, flat.ntotal)
        quantizer = faiss.IndexFlatIP(self.dimension)
        index = faiss.IndexIVFPQ(
            quantizer, self.dimension, ivf_lists(len(ids)), pq_subquantizers(self.dimension), PQ_BITS, faiss.METRIC_INNER_PRODUCT
        )
        index.train(vectors)
        index.add_with_ids(vectors, ids)
        self.index = index
        self._set_nprobe()
        if self.lookup is None:
            self._copy = dict(zip(ids.tolist(), vectors))
        log.info("ivfpq: trained on %d vectors (%d lists, %d-byte codes)", len(ids), index.nlist, index.pq.M)

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._device_index = None
        if not self.trained:
            self.index.add_with_ids(vectors, ids)
            if self.index.ntotal >= IVFPQ_MIN_TRAIN:
                self._train()
            return
        self.index.add_with_ids(vectors, ids)  # writers remove an id's old vector first (Collection._apply)
        if self._copy is not None:
            self._copy.update(zip(ids.tolist(), vectors))

    def _remove(self, ids: np.ndarray) -> None:
        self._device_index = None
        self.index.remove_ids(ids)
        if self._copy is not None:
            for i in ids.tolist():
                self._copy.pop(i, None)

    # searching ------------------------------------------------------------------------------------
    def _to_device(self, index):
        options = self._faiss.GpuClonerOptions()
        options.useFloat16LookupTables = True  # large code sizes need it on the GPU
        return gpu_copy(self, index, options)

    def _candidates(self, query: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        if self.use_gpu:
            try:
                if self._device_index is None:
                    self._device_index = self._to_device(self.index)
                return self._device_index.search(query, fetch)
            except Exception as exc:  # a code size or list count this GPU build does not take: stay on the CPU
                log.warning("ivfpq: GPU search unavailable (%s); searching on the CPU", exc)
                self.use_gpu, self._device_index = False, None
        return self.index.search(query, fetch)

    def _stored(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if self.lookup is not None:
            return self.lookup(ids)
        if self._copy is not None:
            return ids, np.stack([self._copy[int(i)] for i in ids]) if len(ids) else np.zeros((0, self.dimension), np.float32)
        return None

    def _search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.trained:
            return self.index.search(query, k)
        scores, ids = self._candidates(query, rescore_candidates(k, len(self)))
        out_scores = np.full((len(query), k), -np.inf, np.float32)
        out_ids = np.full((len(query), k), -1, np.int64)
        for row in range(len(query)):
            found = ids[row][ids[row] >= 0]
            stored = self._stored(found)
            if stored is None:  # nothing to re-score from: the PQ estimates, best first as faiss gave them
                row_ids, row_scores = found, scores[row][ids[row] >= 0]
            else:
                row_ids, vectors = stored
                row_scores = vectors @ query[row] if len(row_ids) else np.zeros(0, np.float32)
            order = np.argsort(-row_scores, kind="stable")[:k]
            out_scores[row, : len(order)] = row_scores[order]
            out_ids[row, : len(order)] = np.asarray(row_ids)[order]
        return out_scores, out_ids

    def ids(self) -> np.ndarray:
        with self._lock:
            if not self.trained:
                return self._faiss.vector_to_array(self.index.id_map).astype(np.int64)
            return ivf_ids(self.index)

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, lookup: Lookup | None = None) -> "IvfPqFaissIndex":
        """Trained from these vectors whatever their count (the auto index calls this past its threshold)."""
        index = cls(vectors.shape[1], lookup=lookup)
        index.index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.ascontiguousarray(ids, np.int64))
        if len(ids) >= 2**PQ_BITS:  # fewer points than PQ centroids cannot be trained at all
            index._train()
        return index

    @classmethod
    def load(cls, path: Path, dimension: int, *options) -> "IvfPqFaissIndex":
        return cls(dimension, read_ivfpq_or_flat(path, dimension))


def read_ivfpq_or_flat(path: Path, dimension: int):
    """A saved IndexIVFPQ, or the flat IndexIDMap2 it is before training; ValueError (so the caller rebuilds) otherwise."""
    faiss = faiss_module()
    index = faiss.read_index(str(path))
    if index.d != dimension:
        raise ValueError(f"index file has dimension {index.d}, expected {dimension}")
    if isinstance(index, faiss.IndexIVFPQ):
        return index
    return read_id_mapped(path, dimension, "IndexFlat")

