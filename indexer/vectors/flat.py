"""Exact search: every stored vector is scored (FAISS IndexFlatIP), on a GPU when faiss has one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexer.vectors.base import FaissIndex, faiss_gpus, faiss_module, gpu_copy, read_id_mapped


class FlatFaissIndex(FaissIndex):
    """Exact search: FAISS IndexFlatIP behind an id map."""

    kind = "flat"

    def __init__(self, dimension: int, index=None, use_gpu: bool | None = None):
        super().__init__(dimension)
        faiss = faiss_module()
        self._faiss = faiss
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        # the CPU IndexIDMap2 stays the truth (ids, removal, saving); a GPU copy of its flat storage answers
        # searches when faiss has a GPU, re-copied lazily after a removal shifts positions
        self.use_gpu = faiss_gpus() > 0 if use_gpu is None else use_gpu
        self._device_index = None

    def _to_device(self, flat):
        return gpu_copy(self, flat)

    def _device_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._device_index is None:
            self._device_index = self._to_device(self._faiss.downcast_index(self.index.index))
        scores, positions = self._device_index.search(query, k)
        id_map = self._faiss.vector_to_array(self.index.id_map)
        return scores, np.where(positions >= 0, id_map[np.clip(positions, 0, None)], -1)

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add_with_ids(vectors, ids)
        if self._device_index is not None:
            self._device_index.add(vectors)  # appended in the same order as the CPU storage

    def _remove(self, ids: np.ndarray) -> None:
        self.index.remove_ids(ids)
        self._device_index = None

    def _search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._device_search(query, k) if self.use_gpu else self.index.search(query, k)

    def ids(self) -> np.ndarray:
        with self._lock:
            return self._faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) it holds, in storage order: what an index it turns into is built from."""
        with self._lock:
            return self.ids(), self.index.index.reconstruct_n(0, self.index.ntotal)

    @classmethod
    def load(cls, path: Path, dimension: int, *options) -> "FlatFaissIndex":
        return cls(dimension, read_id_mapped(path, dimension, "IndexFlat"))
