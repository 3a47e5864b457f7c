"""Sealed segments: many writers fill their own SQLite files; one commit makes them live.

A collection is its base database (`quarry.sqlite`, the segment every collection has, written in place
as always) plus any number of sealed segments under `segments/`:

    segments/<name>/quarry.sqlite   documents, chunks, vectors and FTS5, the same schema as the base
    segments/<name>/segment.json    what it holds (documents, chunks, a digest of its content), written last
    segments/.tmp-<name>-<pid>-...  a segment being written; never read, removed by `quarry check --repair`

A sealed segment never changes after it is written. It becomes part of the collection only through
`commit_segments`, which in ONE transaction on the base database (its commit point; see "why" below):
  - lists the segment in the base's `segments` table with an ordinal that is never reused,
  - points the collection's document directory (`segment_documents`) at it for every document it holds,
  - and so turns the copy any older segment (or the base) held of those documents into a dead row: rows
    of a segment whose documents the directory no longer points at are the tombstones. Documents held
    by the base are removed from it in the same transaction; documents named in `deletes` go too,
  - and bumps the base generation, which the derived vector index is stamped with.
A crash before that commit leaves an orphan folder that nothing lists: ignored on open.

API (the Ray engine and `quarry index --writers N` both use it; any process that shares the filesystem):

    writer = SegmentWriter(collection_dir, name)       # no lock: it writes only its own temp folder
    writer.write(prepared)                              # list[PreparedDocument]; one transaction each call
    info = writer.finish()                              # -> SegmentInfo; renamed to segments/<name>
    info = write_segment(collection_dir, name, prepared)  # the same in one call
    result = commit_segments(collection, [info, ...], deletes=[doc ids])   # under the writer lock

`name` must be deterministic for a retried task (a job id and block number): writing a name that exists
with the same content (digest) returns the existing segment untouched; with other content it raises
SegmentConflict. Committing a segment that is already live does nothing, so a retried commit is harmless.

Why the commit point is the base database and not a JSON manifest: a write to the base (a REST add)
can replace a document that lives in a sealed segment. Then "remove it from the base / kill the old
row" and "the segment list" must change together, and only one transaction can cover both. The base
already carries a generation counter and WAL snapshots, so readers see the segment list, the directory
and the base rows of one generation together. collection.json keeps the settings and is not touched.

Chunk ids across segments: a segment's rows keep their own ids; the collection names them
`ordinal << SEGMENT_SHIFT | local id` (the base is ordinal 0, so existing ids do not change).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from indexer.errors import QuarryError
from indexer.layout import DATABASE, atomic_write_text
from indexer.store import PreparedDocument, Store, in_batches

log = logging.getLogger(__name__)

SEGMENTS_DIR = "segments"
SEGMENT_INFO = "segment.json"
TEMP_PREFIX = ".tmp-"
SEGMENT_SHIFT = 40  # local chunk ids below 2**40 per segment; ordinals up to 2**23
LOCAL_MASK = (1 << SEGMENT_SHIFT) - 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# Kept in the base database; made by the first commit, so collections made before segments open unchanged.
SEGMENTS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS segments (name TEXT PRIMARY KEY, ordinal INTEGER NOT NULL UNIQUE,"
    " documents INTEGER NOT NULL, chunks INTEGER NOT NULL, digest TEXT NOT NULL, committed_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS segment_documents (doc_id TEXT PRIMARY KEY, segment TEXT NOT NULL,"
    " content_hash TEXT NOT NULL, source TEXT NOT NULL, chunks INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS segment_documents_by_segment ON segment_documents(segment)",
    "CREATE INDEX IF NOT EXISTS segment_documents_by_source ON segment_documents(source)",
)


class SegmentConflict(QuarryError):
    """A segment name already holds other content (names must be unique per job and block)."""


@dataclass(frozen=True)
class SegmentInfo:
    name: str
    documents: int
    chunks: int
    digest: str  # sha256 over (doc id, content hash, chunk count) of every document, sorted
    created_at: float = 0.0

    @classmethod
    def read(cls, path: Path) -> "SegmentInfo":
        data = json.loads((Path(path) / SEGMENT_INFO).read_text())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def global_id(ordinal: int, local: int | np.ndarray):
    return (np.int64(ordinal) << SEGMENT_SHIFT) | local if ordinal else local


def split_ids(ids: Iterable[int]) -> dict[int, list[int]]:
    """ordinal -> local ids, keeping the order within each ordinal."""
    out: dict[int, list[int]] = {}
    for i in ids:
        i = int(i)
        out.setdefault(i >> SEGMENT_SHIFT, []).append(i & LOCAL_MASK)
    return out


def check_name(name: str) -> str:
    if not _NAME.match(name or "") or name.startswith(TEMP_PREFIX):
        raise ValueError(f"segment name {name!r}: use letters, digits, '.', '_' or '-' (at most 128, not starting with a dot)")
    return name


def segments_dir(collection_dir: Path) -> Path:
    return Path(collection_dir) / SEGMENTS_DIR


def segment_path(collection_dir: Path, name: str) -> Path:
    return segments_dir(collection_dir) / check_name(name)


def content_digest(entries: Iterable[tuple[str, str, int]]) -> str:
    """What a segment holds, as one hash: equal digests mean a retried task wrote the same thing."""
    h = hashlib.sha256()
    for doc_id, content_hash, n in sorted(entries):
        h.update(f"{doc_id}\0{content_hash}\0{n}\n".encode())
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class SegmentWriter:
    """Fills one new segment in a temp folder; `finish()` seals it under its final name.

    Needs no lock and no open Collection: only the collection directory (a shared filesystem is enough).
    Documents written twice to one segment: the last copy wins, as in the base.
    """

    def __init__(self, collection_dir: Path, name: str):
        self.collection_dir = Path(collection_dir)
        self.name = check_name(name)
        self.final = segment_path(self.collection_dir, name)
        self.temp = segments_dir(self.collection_dir) / f"{TEMP_PREFIX}{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self.temp.mkdir(parents=True, exist_ok=False)
            self._store = Store(str(self.temp / DATABASE))
        return self._store

    def write(self, prepared: list[PreparedDocument]) -> None:
        if prepared:
            self.store.write_documents(prepared)

    def abort(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        shutil.rmtree(self.temp, ignore_errors=True)

    def finish(self) -> SegmentInfo | None:
        """Seal the segment (fsynced, renamed to its name); None when nothing was written."""
        if self._store is None:
            return None
        store, self._store = self._store, None
        try:
            conn = store.conn
            rows = conn.execute("SELECT doc_id, content_hash, n_chunks FROM documents").fetchall()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            store.close()
        info = SegmentInfo(self.name, len(rows), sum(r[2] for r in rows), content_digest(rows), time.time())
        return _seal(self.temp, self.final, info)


def _seal(temp: Path, final: Path, info: SegmentInfo) -> SegmentInfo:
    try:
        for leftover in ("-wal", "-shm"):
            p = temp / (DATABASE + leftover)
            if p.exists() and p.stat().st_size == 0:
                p.unlink()
        with open(temp / DATABASE, "rb") as handle:
            os.fsync(handle.fileno())
        atomic_write_text(temp / SEGMENT_INFO, json.dumps(asdict(info), indent=2) + "\n")
        _fsync_dir(temp)
        try:
            os.rename(temp, final)
        except OSError:
            if not final.exists():
                raise
            existing = _existing(final)  # another attempt of the same task won the race
            if existing is None or existing.digest != info.digest:
                raise SegmentConflict(f"segment {info.name!r} already exists with other content ({final})") from None
            return existing
        _fsync_dir(final.parent)
        return info
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)


def _existing(final: Path) -> SegmentInfo | None:
    try:
        return SegmentInfo.read(final)
    except (OSError, ValueError, TypeError):
        return None


def write_segment(collection_dir: Path, name: str, prepared: list[PreparedDocument]) -> SegmentInfo | None:
    """Write `prepared` (chunked and embedded documents) as the sealed segment `name`; idempotent.

    Returns None when `prepared` is empty (no segment is made)."""
    final = segment_path(collection_dir, name)
    if not prepared:
        return None
    latest = {p.document.doc_id: p for p in prepared}
    digest = content_digest((d, p.content_hash, len(p.chunks)) for d, p in latest.items())
    if final.exists():
        existing = _existing(final)
        if existing is not None and existing.digest == digest:
            return existing
        if existing is not None:
            raise SegmentConflict(f"segment {name!r} already exists with other content ({final})")
        shutil.rmtree(final)  # a folder without segment.json was never sealed
    writer = SegmentWriter(collection_dir, name)
    try:
        writer.write(list(latest.values()))
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


def commit_segments(collection, infos: Sequence[SegmentInfo | str | None], deletes: Iterable[str] = ()):
    """Make sealed segments live and delete documents, in one commit (see the module docstring).

    Takes the collection's writer lock. Returns the collection's CommitResult."""
    names = [i if isinstance(i, str) else i.name for i in infos if i is not None]
    return collection.commit_segments(names, list(deletes))


# the base database's side: the segment list and the document directory ------------------------------
def has_segments_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='segments'").fetchone() is not None


def live_segments(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """[(name, ordinal)] of the committed segments, oldest first; [] for a collection that never had one."""
    if not has_segments_table(conn):
        return []
    return [(r[0], int(r[1])) for r in conn.execute("SELECT name, ordinal FROM segments ORDER BY ordinal")]


def ensure_tables(conn: sqlite3.Connection) -> None:
    for statement in SEGMENTS_SCHEMA:
        conn.execute(statement)


def next_ordinal(conn: sqlite3.Connection) -> int:
    """Ordinals are never reused (a vector index may still hold ids of a merged-away segment)."""
    row = conn.execute("SELECT value FROM meta WHERE key='next_segment'").fetchone()
    ordinal = int(row[0]) if row else 1
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('next_segment', ?)", (str(ordinal + 1),))
    return ordinal


def located(conn: sqlite3.Connection, doc_ids: Sequence[str]) -> dict[str, str]:
    """doc id -> the sealed segment holding its live copy (documents in the base are not listed)."""
    found: dict[str, str] = {}
    if not has_segments_table(conn):
        return found
    for part, marks in in_batches(doc_ids):
        found.update(conn.execute(f"SELECT doc_id, segment FROM segment_documents WHERE doc_id IN ({marks})", part).fetchall())
    return found


def sealed_chunk_ids(conn: sqlite3.Connection, collection_dir: Path) -> np.ndarray:
    """Collection-wide ids of every live row of the sealed segments, read without writing (what `quarry check` compares
    the vector index with). Raises sqlite3.Error or OSError when a listed segment cannot be read."""
    parts = []
    for name, ordinal in live_segments(conn):
        docs = {r[0] for r in conn.execute("SELECT doc_id FROM segment_documents WHERE segment = ?", (name,))}
        path = segment_path(collection_dir, name) / DATABASE
        if not path.is_file():
            raise FileNotFoundError(f"segment {name!r} is listed as live but {path} is missing")
        seg = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        try:
            rows = seg.execute("SELECT chunk_id, doc_id FROM chunks ORDER BY chunk_id").fetchall()
        finally:
            seg.close()
        parts.append(global_id(ordinal, np.asarray([cid for cid, doc in rows if doc in docs], np.int64)).astype(np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def orphans(collection_dir: Path, live: Iterable[str]) -> list[Path]:
    """Folders under segments/ that no commit lists: unfinished writes, or segments merged away."""
    root = segments_dir(collection_dir)
    if not root.is_dir():
        return []
    keep = set(live)
    return sorted(p for p in root.iterdir() if p.name not in keep)
