"""One registry of index kinds, used both to make a new index and to load a saved one.

A kind is a VectorIndex subclass with `create(dimension, ann_threshold, ann_type, ivfpq_threshold)` and
`load(path, dimension, ...)`; adding one means adding it to KINDS, nothing else.
"""

from __future__ import annotations

from pathlib import Path

from indexer.vectors.ann import AutoIndex, HnswFaissIndex
from indexer.vectors.base import ANN_THRESHOLD, IVFPQ_THRESHOLD, VectorIndex
from indexer.vectors.flat import FlatFaissIndex
from indexer.vectors.pq import IvfPqFaissIndex

KINDS: dict[str, type[VectorIndex]] = {"flat": FlatFaissIndex, "hnsw": HnswFaissIndex, "ivfpq": IvfPqFaissIndex, "auto": AutoIndex}
# flat: exact; hnsw: approximate from the start; ivfpq: exact until it can train, then compressed codes re-scored
# from the stored vectors; auto: flat until ann_threshold, then ann_type, then ivfpq past ivfpq_threshold
INDEX_TYPES = tuple(KINDS)


def index_class(kind: str) -> type[VectorIndex]:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown index type {kind!r}: use one of {', '.join(INDEX_TYPES)}") from None


def create_index(
    kind: str, dimension: int, ann_threshold: int = ANN_THRESHOLD, ann_type: str = "hnsw", ivfpq_threshold: int = IVFPQ_THRESHOLD
) -> VectorIndex:
    return index_class(kind).create(dimension, ann_threshold, ann_type, ivfpq_threshold)


def load_index(
    kind: str, path: Path, dimension: int, ann_threshold: int = ANN_THRESHOLD, ann_type: str = "hnsw", ivfpq_threshold: int = IVFPQ_THRESHOLD
) -> VectorIndex:
    return index_class(kind).load(path, dimension, ann_threshold, ann_type, ivfpq_threshold)
