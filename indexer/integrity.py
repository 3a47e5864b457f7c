"""Does a collection agree with itself? Manifest, SQLite, FTS5 and the derived FAISS file, checked and repaired.

`check_collection` only reads (apart from FTS5's own integrity command) and never trusts the code paths
that heal on open, so it sees a collection as it lies on disk. Findings are "problems" (wrong, or would
not heal by itself) or "warnings" (expected after a crash, healed on the next open: a stale FAISS file).
`repair_collection` fixes what can be fixed without the embedder, under the collection's write lock.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.collection import Collection, storage_error
from indexer.documents import check_metadata
from indexer.layout import DATABASE, INDEX_FILE, INDEX_STAMP, MANIFEST, Manifest, read_stamp
from indexer.errors import QuarryError
from indexer.locking import WriterLock
from indexer.segments import live_segments, orphans, sealed_chunk_ids
from indexer.store import (
    SCHEMA_VERSION, bump_generation, connect_existing, fts_text_sql, in_batches, needs_segmenting, read_generation, rebuild_fts,
    snapshot,
)  # fmt: skip
from indexer.vectors.base import faiss_module
from indexer.vectors.factory import load_index

log = logging.getLogger(__name__)

PROBLEM, WARNING = "problem", "warning"
_SHOW = 5  # ids named in one finding
QUARANTINE = "quarantined_documents"  # where --repair moves documents no search can read
_VECTOR_SAMPLE = 50_000  # vectors compared with SQLite per check (all of them below this)
# how SQLite says it could not get at a file, as opposed to finding it damaged
_ACCESS_ERRORS = ("unable to open", "readonly", "read-only", "locked", "busy", "permission", "access")


@dataclass
class Finding:
    level: str  # PROBLEM or WARNING
    area: str  # manifest, sqlite, fts, chunks, faiss, files
    message: str
    fixable: bool = True

    def __str__(self) -> str:
        hint = " (--repair fixes this)" if self.fixable else " (not repairable automatically)"
        return f"{self.level}: {self.area}: {self.message}{hint}"


@dataclass
class CheckReport:
    directory: Path
    findings: list[Finding] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    generation: int = 0

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == PROBLEM]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def add(self, level: str, area: str, message: str, fixable: bool = True) -> None:
        self.findings.append(Finding(level, area, message, fixable))


def _names(values) -> str:
    values = list(values)
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:_SHOW])
    return shown + (f" and {len(values) - _SHOW} more" if len(values) > _SHOW else "")


def connect(directory: Path) -> sqlite3.Connection:
    """The collection's existing database (never created here), autocommit."""
    return connect_existing(Path(directory) / DATABASE)


def quick_check(directory: str | Path) -> str | None:
    """SQLite's own page-level check of a collection's database, cheap enough for start-up (no index
    comparison, no FTS or vector checks): None when sound, else what it found."""
    try:
        conn = connect(Path(directory))
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if rows == ["ok"] else "; ".join(rows)


# checks ------------------------------------------------------------------------------------------
def check_collection(directory: str | Path) -> CheckReport:
    directory = Path(directory)
    report = CheckReport(directory)
    manifest = _check_manifest(directory, report)
    if not (directory / DATABASE).is_file():
        report.add(PROBLEM, "sqlite", f"{DATABASE} is missing: the collection's data is gone; re-index it", False)
        return report
    try:
        conn = connect(directory)
    except sqlite3.Error as exc:
        _unopenable(report, exc)
        return report
    try:
        if not _check_sqlite_file(conn, report):
            return report  # the rest would read a damaged or foreign file
        _check_fts_index(conn, report)
        with snapshot(conn):  # one committed state for everything below, even beside a writer
            report.generation = read_generation(conn)
            report.documents = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            report.chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            sealed = _check_segments(directory, conn, report)
            _check_chunks(conn, manifest, report)
            _check_metadata(conn, report)
            _check_fts_rows(conn, report)
            if manifest is not None and sealed is not None:
                _check_faiss(directory, conn, manifest, report, sealed)
    finally:
        conn.close()
    leftovers = sorted(p.name for p in directory.glob("*.tmp"))
    if leftovers:
        report.add(WARNING, "files", f"temporary files left by an interrupted write: {_names(leftovers)}")
    return report


def _check_manifest(directory: Path, report: CheckReport) -> Manifest | None:
    if not (directory / MANIFEST).is_file():
        report.add(PROBLEM, "manifest", f"{MANIFEST} is missing (an interrupted create leaves this; re-index)", False)
        return None
    try:
        manifest = Manifest.read(directory)
    except (QuarryError, TypeError) as exc:
        report.add(PROBLEM, "manifest", str(exc), False)
        return None
    if manifest.dimension <= 0:
        report.add(PROBLEM, "manifest", f"dimension {manifest.dimension} is not positive", False)
        return None
    if manifest.name != directory.name:
        report.add(WARNING, "manifest", f"names the collection {manifest.name!r} but its directory is {directory.name!r}", False)
    return manifest


def _unopenable(report: CheckReport, exc: sqlite3.Error) -> None:
    """A database that could not be opened was not read, so nothing says it is damaged: say so, and
    never advise throwing it away."""
    report.add(
        PROBLEM, "sqlite",
        f"{DATABASE} could not be opened for checking ({exc}); its contents were not read, so this says nothing"
        f" about damage: check that this user may read and write {report.directory} and that no other process"
        " holds it locked, then run the check again", False,
    )  # fmt: skip


def _check_sqlite_file(conn: sqlite3.Connection, report: CheckReport) -> bool:
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and any(word in str(exc).lower() for word in _ACCESS_ERRORS):
            _unopenable(report, exc)
            return False
        report.add(PROBLEM, "sqlite", f"{DATABASE} cannot be read: {exc}; restore a backup or re-index", False)
        return False
    if rows != ["ok"]:
        report.add(PROBLEM, "sqlite", f"PRAGMA integrity_check failed: {'; '.join(rows)}; restore a backup or re-index", False)
        return False
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = {"meta", "documents", "chunks"} - tables
    if missing:
        report.add(PROBLEM, "sqlite", f"tables missing: {_names(sorted(missing))}; this is not a quarry collection", False)
        return False
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("schema_version") != str(SCHEMA_VERSION):
        report.add(PROBLEM, "sqlite", f"schema version {meta.get('schema_version')!r}, this quarry reads {SCHEMA_VERSION}", False)
        return False
    if not str(meta.get("generation", "")).isdigit():
        report.add(PROBLEM, "sqlite", f"generation counter is {meta.get('generation')!r}, not a number", False)
        return False
    if "chunks_fts" not in tables:
        report.add(PROBLEM, "fts", "the full-text table chunks_fts is missing")
    return True


def _check_fts_index(conn: sqlite3.Connection, report: CheckReport) -> None:
    """FTS5's own check that its index matches its stored text (a command written as an INSERT)."""
    try:
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')")
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return  # reported by _check_sqlite_file
        if "readonly" in str(exc) or "locked" in str(exc):
            report.add(WARNING, "fts", f"FTS5 integrity-check skipped ({exc})", False)
            return
        report.add(PROBLEM, "fts", f"FTS5 integrity-check failed: {exc}")
    except sqlite3.DatabaseError as exc:
        report.add(PROBLEM, "fts", f"FTS5 integrity-check failed: {exc}")


def _check_chunks(conn: sqlite3.Connection, manifest: Manifest | None, report: CheckReport) -> None:
    if manifest is not None:
        size = 4 * manifest.dimension
        bad = [r[0] for r in conn.execute("SELECT chunk_id FROM chunks WHERE length(vector) != ?", (size,))]
        if bad:
            report.add(PROBLEM, "chunks", f"{len(bad)} chunk vector(s) are not {size} bytes ({manifest.dimension} floats): chunk ids {_names(bad)}; repair drops them and their documents must be re-indexed")
    orphans = [r[0] for r in conn.execute("SELECT chunk_id FROM chunks WHERE doc_id NOT IN (SELECT doc_id FROM documents)")]
    if orphans:
        report.add(PROBLEM, "chunks", f"{len(orphans)} chunk(s) belong to no document: chunk ids {_names(orphans)}")
    wrong = conn.execute(
        "SELECT d.doc_id, d.n_chunks, COUNT(c.chunk_id) FROM documents d LEFT JOIN chunks c ON c.doc_id = d.doc_id"
        " GROUP BY d.doc_id HAVING d.n_chunks != COUNT(c.chunk_id)"
    ).fetchall()
    if wrong:
        shown = [f"{doc_id!r} says {n} has {real}" for doc_id, n, real in wrong[:_SHOW]]
        report.add(PROBLEM, "chunks", f"{len(wrong)} document(s) with a wrong chunk count: {'; '.join(shown)}")
    gaps = [r[0] for r in conn.execute(
        "SELECT doc_id FROM chunks GROUP BY doc_id"
        " HAVING MIN(ordinal) != 0 OR MAX(ordinal) != COUNT(*) - 1 OR COUNT(DISTINCT ordinal) != COUNT(*)"
    )]  # fmt: skip
    if gaps:
        report.add(PROBLEM, "chunks", f"{len(gaps)} document(s) whose chunk ordinals are not 0..n-1: {_names(gaps)}; repair drops their chunks and they must be re-indexed")


def _unreadable_metadata(conn: sqlite3.Connection) -> dict[str, str]:
    """doc_id -> why its stored metadata would break filtered searches or responses (NaN, Infinity, too deep,
    too large: what writes refuse now, but older versions stored)."""
    bad: dict[str, str] = {}
    for doc_id, text in conn.execute("SELECT doc_id, metadata FROM documents"):
        try:
            check_metadata(json.loads(text))
        except (ValueError, TypeError, RecursionError) as exc:
            bad[doc_id] = str(exc) or type(exc).__name__
    return bad


def _check_metadata(conn: sqlite3.Connection, report: CheckReport) -> None:
    bad = _unreadable_metadata(conn)
    if bad:
        first = next(iter(bad.items()))
        report.add(PROBLEM, "documents", f"{len(bad)} document(s) hold metadata that breaks filtered searches"
                   f" ({first[0]!r}: {first[1]}): {_names(bad)}; repair moves them to the {QUARANTINE} table")  # fmt: skip


def _check_fts_rows(conn: sqlite3.Connection, report: CheckReport) -> None:
    try:
        unindexed = conn.execute("SELECT COUNT(*) FROM chunks WHERE chunk_id NOT IN (SELECT rowid FROM chunks_fts)").fetchone()[0]
        stray = conn.execute("SELECT COUNT(*) FROM chunks_fts WHERE rowid NOT IN (SELECT chunk_id FROM chunks)").fetchone()[0]
        differ = conn.execute(
            f"SELECT COUNT(*) FROM chunks c JOIN chunks_fts f ON f.rowid = c.chunk_id WHERE f.text IS NOT {fts_text_sql(conn)}"
        ).fetchone()[0]
    except sqlite3.OperationalError:
        return  # no FTS table: reported already
    except sqlite3.DatabaseError as exc:
        report.add(PROBLEM, "fts", f"full-text table unreadable: {exc}")
        return
    if unindexed:
        report.add(PROBLEM, "fts", f"{unindexed} chunk(s) are missing from the full-text index (BM25 cannot find them)")
    if stray:
        report.add(PROBLEM, "fts", f"{stray} full-text row(s) point at chunks that do not exist")
    if differ:
        report.add(PROBLEM, "fts", f"{differ} full-text row(s) hold text that differs from their chunk")
    elif needs_segmenting(conn):
        report.add(WARNING, "fts", "the full-text index keeps Chinese/Japanese/Thai runs as single words, so lexical search "
                   "misses words inside them; `quarry check --repair` rebuilds it split into characters")


def _check_segments(directory: Path, conn: sqlite3.Connection, report: CheckReport) -> np.ndarray | None:
    """Sealed segments (indexer.segments): every listed one readable, and folders nothing lists (an
    interrupted write, or segments merged away) reported. Returns the live sealed rows' ids; None if unreadable."""
    live = live_segments(conn)
    unlisted = orphans(directory, [name for name, _ in live])
    if unlisted:
        report.add(WARNING, "segments", f"{len(unlisted)} segment folder(s) no commit lists (an interrupted write or a "
                   f"finished merge), ignored by searches: {_names(p.name for p in unlisted)}")  # fmt: skip
    if not live:
        return np.zeros(0, np.int64)
    more = conn.execute("SELECT COUNT(*), COALESCE(SUM(chunks), 0) FROM segment_documents").fetchone()
    report.documents += more[0]
    report.chunks += more[1]
    try:
        return sealed_chunk_ids(conn, directory)
    except (sqlite3.Error, OSError) as exc:
        report.add(PROBLEM, "segments", f"a live segment cannot be read ({exc}); restore a backup or re-index", False)
        return None


def _check_faiss(directory: Path, conn: sqlite3.Connection, manifest: Manifest, report: CheckReport, sealed=None) -> None:
    path = directory / INDEX_FILE
    if not path.exists():
        if report.chunks:
            report.add(WARNING, "faiss", f"{INDEX_FILE} is missing; it is rebuilt from SQLite on the next open")
        return
    try:
        index = load_index(manifest.index_type, path, manifest.dimension)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same finding
        report.add(WARNING, "faiss", f"{INDEX_FILE} is unreadable ({exc}); it is rebuilt from SQLite on the next open")
        return
    stamp = read_stamp(directory)
    held = index.ids()
    truth = np.fromiter((r[0] for r in conn.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id")), np.int64)
    if sealed is not None and len(sealed):
        truth = np.union1d(truth, sealed)
    unique = np.unique(held)
    if len(unique) != len(held):
        report.add(PROBLEM, "faiss", f"{INDEX_FILE} holds {len(held) - len(unique)} duplicate chunk id(s)")
    trusted = stamp.get("generation") == report.generation and stamp.get("count") == len(index)
    missing, extra = np.setdiff1d(truth, unique), np.setdiff1d(unique, truth)
    if not trusted:
        report.add(WARNING, "faiss", f"{INDEX_FILE} is behind SQLite (stamped generation {stamp.get('generation')}, "
                   f"SQLite at {report.generation}; {len(missing)} missing, {len(extra)} extra); caught up on the next open")  # fmt: skip
        return
    if len(missing) or len(extra):  # stamped current, so opening would trust it: a real problem
        report.add(PROBLEM, "faiss", f"{INDEX_FILE} claims generation {report.generation} but disagrees with SQLite: "
                   f"{len(missing)} chunk id(s) missing ({_names(missing.tolist())}), {len(extra)} extra ({_names(extra.tolist())})")  # fmt: skip
        return
    _check_faiss_vectors(conn, index, manifest, report)


def _id_mapped(index):
    """The faiss IndexIDMap2 under any of our index kinds (an auto index wraps flat, hnsw or ivf), made able to
    give back a vector by chunk id; None when there is none."""
    inner = getattr(index, "inner", index)
    id_map = getattr(inner, "index", None)
    if id_map is None or not hasattr(id_map, "reconstruct"):
        return None
    faiss = faiss_module()
    try:  # an IVF index gives vectors back only with its direct map
        faiss.extract_index_ivf(id_map.index).make_direct_map()
    except (RuntimeError, AttributeError):
        pass  # not IVF: flat and HNSW storage reconstruct as they are
    return id_map


def _check_faiss_vectors(conn: sqlite3.Connection, index, manifest: Manifest, report: CheckReport) -> None:
    """Vectors in the FAISS file equal their chunks' vectors in SQLite, for every index kind (all of them up to
    _VECTOR_SAMPLE, an evenly spread sample beyond)."""
    id_map = _id_mapped(index)
    if id_map is None:
        report.add(WARNING, "faiss", f"vectors in {INDEX_FILE} ({type(index).__name__}) cannot be compared with SQLite", False)
        return
    size = 4 * manifest.dimension
    ids = [r[0] for r in conn.execute("SELECT chunk_id FROM chunks WHERE length(vector) = ? ORDER BY chunk_id", (size,))]
    if len(ids) > _VECTOR_SAMPLE:
        ids = [ids[i] for i in np.linspace(0, len(ids) - 1, _VECTOR_SAMPLE).astype(int)]
    differ: list[int] = []
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        marks = ",".join("?" * len(part))
        for chunk_id, blob in conn.execute(f"SELECT chunk_id, vector FROM chunks WHERE chunk_id IN ({marks})", part):
            try:
                held = id_map.reconstruct(int(chunk_id))
            except RuntimeError:  # faiss cannot find it: the file's id map is damaged
                differ.append(int(chunk_id))
                continue
            if not np.allclose(held, np.frombuffer(blob, dtype=np.float32), atol=1e-4):
                differ.append(int(chunk_id))
    if differ:
        report.add(PROBLEM, "faiss", f"{len(differ)} of {len(ids)} vector(s) compared in {INDEX_FILE} differ from SQLite: chunk ids {_names(differ)}")


# repair ------------------------------------------------------------------------------------------
def repair_collection(directory: str | Path, lock_timeout: float = 30.0) -> list[str]:
    """Fix what can be fixed from SQLite alone; returns what was done, one line each.

    Never invents data: chunks with damaged vectors or broken ordinals are dropped and their documents
    marked changed (empty content hash), so the next `quarry index` of their sources re-embeds them.
    """
    directory = Path(directory)
    report = check_collection(directory)
    if any(f.area in ("manifest", "sqlite") and f.level == PROBLEM for f in report.findings):
        return []  # nothing safe to do: the problems say what the user must do
    manifest = Manifest.read(directory)
    try:
        return _repair_locked(directory, manifest, report, lock_timeout)
    except (sqlite3.OperationalError, OSError) as exc:
        raise storage_error(exc, manifest.name, directory) or exc


def _repair_locked(directory: Path, manifest: Manifest, report: CheckReport, lock_timeout: float) -> list[str]:
    actions: list[str] = []
    with WriterLock(directory, manifest.name, lock_timeout).hold("quarry check --repair"):
        conn = connect(directory)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                actions += _repair_sqlite(conn, manifest)
                if actions:
                    bump_generation(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        faiss_findings = [f for f in report.findings if f.area == "faiss"]
        if actions or faiss_findings:
            for name in (INDEX_FILE, INDEX_STAMP):  # never trust the old file: rebuild from SQLite
                (directory / name).unlink(missing_ok=True)
            actions.append(f"{INDEX_FILE}: will be rebuilt from SQLite")
        for leftover in directory.glob("*.tmp"):  # safe: every writer of these holds the lock we hold
            leftover.unlink()
            actions.append(f"removed leftover temporary file {leftover.name}")
        conn = connect(directory)
        try:
            live = [name for name, _ in live_segments(conn)]
        finally:
            conn.close()
        for folder in orphans(directory, live):  # never committed (or merged away): no reader uses them
            shutil.rmtree(folder, ignore_errors=True)
            actions.append(f"removed segment folder no commit lists: {folder.name}")
    if any(a.startswith(INDEX_FILE) for a in actions):
        collection = Collection.open(directory, lock_timeout=lock_timeout)  # rebuilds, logging why
        collection.close()  # saves the rebuilt file with its stamp
        actions[actions.index(f"{INDEX_FILE}: will be rebuilt from SQLite")] = f"rebuilt {INDEX_FILE} from SQLite ({len(collection.index)} vectors)"
    return actions


def _repair_sqlite(conn: sqlite3.Connection, manifest: Manifest) -> list[str]:
    actions: list[str] = []
    n = conn.execute("DELETE FROM chunks WHERE doc_id NOT IN (SELECT doc_id FROM documents)").rowcount
    if n:
        actions.append(f"removed {n} orphan chunk(s)")
    damaged = [r[0] for r in conn.execute(
        "SELECT DISTINCT doc_id FROM chunks WHERE length(vector) != ? UNION"
        " SELECT doc_id FROM chunks GROUP BY doc_id"
        " HAVING MIN(ordinal) != 0 OR MAX(ordinal) != COUNT(*) - 1 OR COUNT(DISTINCT ordinal) != COUNT(*)",
        (4 * manifest.dimension,),
    )]  # fmt: skip
    for part, marks in in_batches(damaged):
        conn.execute(f"DELETE FROM chunks WHERE doc_id IN ({marks})", part)
        conn.execute(f"UPDATE documents SET content_hash = '', n_chunks = 0 WHERE doc_id IN ({marks})", part)
    if damaged:
        actions.append(f"dropped the damaged chunks of {len(damaged)} document(s) ({_names(damaged)}); re-index their sources to restore them")
    actions += _quarantine(conn)
    n = conn.execute(
        "UPDATE documents SET n_chunks = (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = documents.doc_id)"
        " WHERE n_chunks != (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = documents.doc_id)"
    ).rowcount
    if n:
        actions.append(f"corrected the chunk count of {n} document(s)")
    if actions or _fts_disagrees(conn) or needs_segmenting(conn):
        n = rebuild_fts(conn)
        actions.append(f"rebuilt the full-text index from {n} chunk(s)")
    return actions


def _quarantine(conn: sqlite3.Connection) -> list[str]:
    """Move documents whose metadata no search can read out of the collection, into QUARANTINE with the reason.
    Their rows are kept whole there (for an operator to fix and re-add); their chunks go."""
    bad = _unreadable_metadata(conn)
    if not bad:
        return []
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {QUARANTINE} (doc_id TEXT NOT NULL, title TEXT, source TEXT, metadata TEXT,"
        " text TEXT, reason TEXT NOT NULL, quarantined_at REAL NOT NULL)"
    )
    for doc_id, reason in bad.items():
        conn.execute(
            f"INSERT INTO {QUARANTINE} SELECT doc_id, title, source, metadata, text, ?, strftime('%s','now')"
            " FROM documents WHERE doc_id = ?",
            (reason, doc_id),
        )
        conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
    return [f"moved {len(bad)} document(s) with unreadable metadata to the {QUARANTINE} table ({_names(bad)}); fix and re-add them"]


def _fts_disagrees(conn: sqlite3.Connection) -> bool:
    probe = CheckReport(Path("."))
    try:
        conn.execute("SAVEPOINT fts_probe")
        _check_fts_index(conn, probe)
        conn.execute("RELEASE fts_probe")
    except sqlite3.Error:
        return True
    _check_fts_rows(conn, probe)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return bool(probe.findings) or "chunks_fts" not in tables
