"""What a collection looks like on disk, in one place: file names, the manifest, the index stamp, atomic writes.

    collection.json   the manifest (format version, embedder, chunker and index settings), replaced atomically
    quarry.sqlite     documents, chunks, vectors and FTS5: the truth
    vectors.faiss     the vector index, derived from SQLite (a cache: rebuilt when missing, stale or corrupt)
    vectors.json      the stamp: the SQLite generation and vector count vectors.faiss holds

Every replaced file is written to a per-process temp sibling, fsynced, then renamed over the old one.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from indexer.chunker import ChunkerSettings
from indexer.errors import QuarryError
from indexer.vectors.base import IVFPQ_THRESHOLD

FORMAT_VERSION = 1
MANIFEST = "collection.json"
DATABASE = "quarry.sqlite"
INDEX_FILE = "vectors.faiss"
INDEX_STAMP = "vectors.json"


@dataclass
class Manifest:
    name: str
    embedder: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    index_type: str = "flat"  # flat (exact), hnsw, ivfpq, or auto (flat until ann_threshold chunks, then ann_type)
    ann_threshold: int = 100_000
    ann_type: str = "hnsw"
    ivfpq_threshold: int = IVFPQ_THRESHOLD  # auto moves to IVF-PQ past this many chunks
    format_version: int = FORMAT_VERSION
    created_at: float = 0.0
    languages: dict[str, float] = field(default_factory=dict)  # share of text per detected language, kept by writes
    query_prefix: str = ""  # put before every query before embedding it (instruction-tuned embedders)
    document_prefix: str = ""  # put before every chunk before embedding it

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


def temp_path(path: Path) -> Path:
    """A sibling temp name unique to this process, so two writers never share one temp file."""
    return path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = temp_path(path)
    try:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_stamp(directory: Path) -> dict:
    """{"generation", "count"} the saved index covers; {} when there is no readable stamp (the index is then stale)."""
    try:
        return json.loads((Path(directory) / INDEX_STAMP).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def save_index_files(directory: Path, index, generation: int) -> None:
    """Write the vector index and its stamp so that a crash at any point never pairs a file with the wrong stamp."""
    path = directory / INDEX_FILE
    tmp = temp_path(path)
    try:
        index.save(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        # stamp first as "unknown", so a crash between the two replaces can never pair them wrongly
        atomic_write_text(directory / INDEX_STAMP, json.dumps({"generation": None, "count": None}))
        os.replace(tmp, path)
        atomic_write_text(directory / INDEX_STAMP, json.dumps({"generation": generation, "count": len(index)}))
    except RuntimeError as exc:  # faiss reports a failed write (disk full) as RuntimeError
        raise OSError(errno.EIO, f"cannot write {path.name}: {exc}") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
