"""Merging segments: compact small sealed segments and drop dead rows (a simplified TieredMergePolicy).

Two moves (searches never wait for either: they read the last commit):
  - `merge(collection, names)`: copy the live rows of some sealed segments into one new sealed segment
    (no lock: sealed segments never change), then swap them in one short commit on the base under the
    writer lock (directory repointed, old segments unlisted). The old folders are removed after the
    commit; a crash before it leaves only an orphan (ignored, removed by `quarry check --repair`).
  - `optimize(collection)`: fold every sealed segment into the base database under the writer lock, a
    group of segments per transaction (each a complete commit), so the collection ends as one database.
Rows are copied by SQL (ATTACH), not re-embedded; full-text rows are made for the copied chunks only.

The policy (`plan`), simplified from Lucene's TieredMergePolicy: segments are sized by live chunks; while
there are more than `per_tier` segments, the `per_tier` smallest (similar sizes, so each row is copied a
logarithmic number of times) are merged into one; a segment whose rows are more than `max_dead` dead is
rewritten on its own. Nothing is planned for a handful of segments, so small collections never churn.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np

from indexer.layout import DATABASE
from indexer.segment import index_text
from indexer.segments import SegmentWriter, ensure_tables, global_id, next_ordinal, segment_path
from indexer.store import DIRECTORY_TABLE, LANGUAGE_SCHEMA, WriteResult, fts_text_sql, in_batches

log = logging.getLogger(__name__)

PER_TIER = 8  # segments allowed before the smallest are merged
MAX_DEAD = 0.3  # a segment with more than this share of dead rows is rewritten
ATTACH_GROUP = 8  # SQLite attaches at most 10 databases to one connection


@dataclass(frozen=True)
class SegmentSize:
    name: str
    rows: int  # chunks written
    live: int  # chunks still live


def sizes(collection) -> list[SegmentSize]:
    collection.refresh()
    conn = collection.store.conn
    live = dict(conn.execute(f"SELECT segment, SUM(chunks) FROM {DIRECTORY_TABLE} GROUP BY segment").fetchall()) if collection.segments else {}
    rows = dict(conn.execute("SELECT name, chunks FROM segments").fetchall()) if collection.segments else {}
    return [SegmentSize(name, int(rows.get(name, 0)), int(live.get(name) or 0)) for name, _ in collection.segments.live]


def plan(segments: list[SegmentSize], per_tier: int = PER_TIER, max_dead: float = MAX_DEAD) -> list[list[str]]:
    """Merges to run now: lists of segment names, each merged into one new segment."""
    merges: list[list[str]] = []
    chosen: set[str] = set()
    by_size = sorted(segments, key=lambda s: (s.live, s.name))
    remaining = len(by_size)
    while remaining > per_tier:
        group = [s.name for s in by_size if s.name not in chosen][:per_tier]
        merges.append(group)
        chosen.update(group)
        remaining -= len(group) - 1
    for s in segments:
        if s.name not in chosen and s.rows and (s.rows - s.live) / s.rows > max_dead:
            merges.append([s.name])
            chosen.add(s.name)
    return merges


def _register(conn: sqlite3.Connection) -> None:
    conn.create_function("fts_index_text", 1, index_text, deterministic=True)


def _copy_live(conn: sqlite3.Connection, alias: str, live: list[str]) -> None:
    """Inside the caller's transaction: copy these documents (with chunks, vectors, languages) from an attached database."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS merge_ids (doc_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.merge_ids")
    conn.executemany("INSERT OR IGNORE INTO temp.merge_ids VALUES (?)", [(d,) for d in live])
    pick = "doc_id IN (SELECT doc_id FROM temp.merge_ids)"
    conn.execute(f"INSERT INTO main.documents SELECT * FROM {alias}.documents WHERE {pick}")
    conn.execute(
        "INSERT INTO main.chunks (doc_id, ordinal, text, start, end, heading_path, vector)"
        f" SELECT doc_id, ordinal, text, start, end, heading_path, vector FROM {alias}.chunks WHERE {pick} ORDER BY chunk_id"
    )
    if conn.execute(f"SELECT 1 FROM {alias}.sqlite_master WHERE type='table' AND name='doc_languages'").fetchone():
        conn.execute(LANGUAGE_SCHEMA.replace("EXISTS doc_languages", "EXISTS main.doc_languages"))
        conn.execute(f"INSERT OR REPLACE INTO main.doc_languages SELECT * FROM {alias}.doc_languages WHERE {pick}")


def _fill_fts(conn: sqlite3.Connection, after: int) -> None:
    """Full-text rows for the chunks copied in (ids above `after`), spelled as this database spells them."""
    text = fts_text_sql(conn)
    title = text.replace("c.text", "d.title")
    conn.execute(
        f"INSERT INTO main.chunks_fts (rowid, text, title) SELECT c.chunk_id, {text}, {title}"
        " FROM main.chunks c JOIN main.documents d ON d.doc_id = c.doc_id WHERE c.chunk_id > ?",
        (after,),
    )


def _max_chunk(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(chunk_id), 0) FROM main.chunks").fetchone()[0])


def _live_docs(conn: sqlite3.Connection, name: str) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT doc_id FROM {DIRECTORY_TABLE} WHERE segment = ?", (name,))]


def merge(collection, names: list[str]) -> str | None:
    """Merge these sealed segments into one new one (live rows only); its name, or None when nothing was merged.

    The copy runs without the writer lock (sealed segments never change); only the swap takes it. A document
    replaced or deleted during the copy keeps its new state: the swap repoints only directory entries that
    still name the old segments, so its copied row is dead from the start."""
    collection.refresh()
    ordinals = {n: o for n, o in collection.segments.live}
    names = [n for n in dict.fromkeys(names) if n in ordinals]
    if not names:
        return None
    live = {name: _live_docs(collection.store.conn, name) for name in names}
    writer = SegmentWriter(collection.directory, f"merge-{uuid.uuid4().hex[:12]}")
    try:
        if any(live.values()):
            conn = writer.store.conn
            _register(conn)
            for name in names:
                conn.execute("ATTACH DATABASE ? AS src", (str(segment_path(collection.directory, name) / DATABASE),))
                try:
                    with writer.store.transaction():
                        after = _max_chunk(conn)
                        _copy_live(conn, "src", live[name])
                        _fill_fts(conn, after)
                finally:
                    conn.execute("DETACH DATABASE src")
        info = writer.finish()
    except BaseException:
        writer.abort()
        raise
    with collection.writing("merging segments"):
        collection.refresh()
        if any(n not in {m for m, _ in collection.segments.live} for n in names):  # another merge or optimize won
            if info is not None:
                shutil.rmtree(segment_path(collection.directory, info.name), ignore_errors=True)
            return None
        removed = np.concatenate([_global_rows(collection, n, ordinals[n]) for n in names])
        base = collection.store
        with base.transaction() as conn:
            ensure_tables(conn)
            ordinal = None
            if info is not None:
                ordinal = next_ordinal(conn)
                conn.execute("INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?)", (info.name, ordinal, info.documents, info.chunks, info.digest, time.time()))
            for part, marks in in_batches(names):
                if info is not None:
                    conn.execute(f"UPDATE {DIRECTORY_TABLE} SET segment = ? WHERE segment IN ({marks})", (info.name, *part))
                conn.execute(f"DELETE FROM segments WHERE name IN ({marks})", part)
            generation = base._bump_generation(conn)
        added, vectors = _sealed_vectors(collection, generation, info.name if info else None, ordinal)
        collection._apply(WriteResult(added, vectors, removed, generation))
    _remove_folders(collection, names)
    return info.name if info else None


def _global_rows(collection, name: str, ordinal: int) -> np.ndarray:
    rows = collection.segments.store(name).conn.execute("SELECT chunk_id FROM chunks").fetchall()
    return global_id(ordinal, np.asarray([r[0] for r in rows], np.int64)).astype(np.int64)


def _sealed_vectors(collection, generation: int, name: str | None, ordinal: int | None) -> tuple[np.ndarray, np.ndarray]:
    collection.segments.refresh(generation)
    dim = collection.manifest.dimension
    if name is None:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    local, _ = collection.segments.live_chunks(name)
    return global_id(ordinal, local).astype(np.int64), collection.segments.store(name).vectors_for(local)


def _remove_folders(collection, names: list[str]) -> None:
    for name in names:
        shutil.rmtree(segment_path(collection.directory, name), ignore_errors=True)


def optimize(collection) -> int:
    """Fold every sealed segment into the base database (one transaction per group of segments); segments folded."""
    folded = 0
    with collection.writing("quarry optimize"):
        while True:
            collection.refresh()
            group = collection.segments.live[:ATTACH_GROUP]
            if not group:
                return folded
            base = collection.store
            conn = base.conn
            _register(conn)
            removed = np.concatenate([_global_rows(collection, n, o) for n, o in group])
            aliases = []
            try:
                for k, (name, _) in enumerate(group):
                    conn.execute(f"ATTACH DATABASE ? AS seg{k}", (str(segment_path(collection.directory, name) / DATABASE),))
                    aliases.append(f"seg{k}")
                with base.transaction():
                    after = _max_chunk(conn)
                    for alias, (name, _) in zip(aliases, group):
                        live = _live_docs(conn, name)
                        _copy_live(conn, alias, live)
                        for part, marks in in_batches(live):
                            conn.execute(f"DELETE FROM {DIRECTORY_TABLE} WHERE doc_id IN ({marks})", part)
                        conn.execute("DELETE FROM segments WHERE name = ?", (name,))
                    _fill_fts(conn, after)
                    generation = base._bump_generation(conn)
                    added = [r for r in conn.execute("SELECT chunk_id, vector FROM main.chunks WHERE chunk_id > ?", (after,))]
            finally:
                for alias in aliases:
                    conn.execute(f"DETACH DATABASE {alias}")
            ids = np.asarray([r[0] for r in added], np.int64)
            vectors = np.stack([np.frombuffer(r[1], np.float32) for r in added]) if added else np.zeros((0, collection.manifest.dimension), np.float32)
            collection.segments.refresh(generation)
            collection._apply(WriteResult(ids, vectors, removed, generation))
            _remove_folders(collection, [n for n, _ in group])
            folded += len(group)


def maybe_merge(collection, per_tier: int = PER_TIER, max_dead: float = MAX_DEAD) -> list[str]:
    """Run the merges the policy plans now; the new segments' names."""
    if not collection.segments:
        return []
    done = []
    for group in plan(sizes(collection), per_tier, max_dead):
        name = merge(collection, group)
        if name:
            done.append(name)
    return done


class BackgroundMerger:
    """The server's merge thread: after writes, runs the policy under the writer lock; searches go on reading."""

    def __init__(self, collections, interval_s: float = 30.0, per_tier: int = PER_TIER):
        self.collections = collections  # a callable returning the open collections
        self.interval_s = interval_s
        self.per_tier = per_tier
        self.rounds = 0
        self.round_done = threading.Event()  # set after every round (tests wait on it, never on time)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="quarry-merge", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            for collection in list(self.collections()):
                try:
                    if collection.segments:
                        merged = maybe_merge(collection, self.per_tier)
                        if merged:
                            collection.save_index()
                except Exception as exc:  # noqa: BLE001 - a busy or failing collection waits for the next round
                    log.info("collection %s: background merge skipped (%s)", collection.name, exc)
            self.rounds += 1
            self.round_done.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
