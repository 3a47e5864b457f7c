"""One registry of index kinds, used both to make a new index and to load a saved one.

A kind is a VectorIndex subclass with `create(dimension, ann_threshold, ann_type)` and
`load(path, dimension, ...)`; adding one means adding it to KINDS, nothing else.
"""

from __future__ import annotations

from pathlib import Path

from indexer.vectors.ann import AutoIndex, HnswFaissIndex
from indexer.vectors.base import VectorIndex
from indexer.vectors.flat import FlatFaissIndex

KINDS: dict[str, type[VectorIndex]] = {"flat": FlatFaissIndex, "hnsw": HnswFaissIndex, "auto": AutoIndex}
INDEX_TYPES = tuple(KINDS)  # flat: exact; hnsw: approximate from the start; auto: flat until ann_threshold, then ann_type


def index_class(kind: str) -> type[VectorIndex]:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown index type {kind!r}: use one of {', '.join(INDEX_TYPES)}") from None


def create_index(kind: str, dimension: int, ann_threshold: int = 100_000, ann_type: str = "hnsw") -> VectorIndex:
    return index_class(kind).create(dimension, ann_threshold, ann_type)


def load_index(kind: str, path: Path, dimension: int, ann_threshold: int = 100_000, ann_type: str = "hnsw") -> VectorIndex:
    return index_class(kind).load(path, dimension, ann_threshold, ann_type)
