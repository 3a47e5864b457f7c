"""SQLite: the source of truth for a collection (documents, chunks, their vectors, and FTS5 for BM25).

WAL mode, so readers never wait for the writer and never see a half-written batch: every batch of
documents is one transaction. Each connection belongs to one thread.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.documents import Chunk, Document, chunk_metadata, normalize_doc_id
from indexer.filters import SqlFilter
from indexer.segment import SEGMENTER, has_unspaced, index_text, query_terms

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    metadata TEXT NOT NULL,
    text TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    heading_path TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id, ordinal);
"""
# Created by the first write that records languages, so collections made before it open unchanged
# (their languages read as unknown until documents are re-indexed).
LANGUAGE_SCHEMA = "CREATE TABLE IF NOT EXISTS doc_languages (doc_id TEXT PRIMARY KEY, language TEXT NOT NULL, chars INTEGER NOT NULL)"
# kept apart so `quarry check --repair` can rebuild the full-text index from the chunks
FTS_TOKENIZE = "unicode61 remove_diacritics 2"
FTS_SCHEMA = f"CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, title, tokenize='{FTS_TOKENIZE}')"
# bm25() weights of the text and title columns. A word of the title in the query says more than a word of one
# chunk: title 2.0 beat 0.3 (the weight before) on seven of eleven judged sets and lost on none by more than
# 0.003, chosen leave-one-dataset-out (docs/quality.md, "Cheap levers").
FTS_WEIGHTS = (1.0, 2.0)
_SCHEMA += FTS_SCHEMA + ";\n"

# Where sealed segments (indexer.segments) hold documents; made by the first segment commit.
DIRECTORY_TABLE = "segment_documents"

# shared by Store and indexer.integrity: one copy of each -----------------------------------------
IN_BATCH = 500  # values per `IN (?, ...)`: well under SQLite's limit on one statement's parameters


def in_batches(values: Sequence) -> Iterator[tuple[list, str]]:
    """(part, "?,?,...") for each run of at most IN_BATCH values, for `... IN ({marks})` queries."""
    values = list(values)
    for i in range(0, len(values), IN_BATCH):
        part = values[i : i + IN_BATCH]
        yield part, ",".join("?" * len(part))


def connect_existing(path: str | Path) -> sqlite3.Connection:
    """Open an existing database without creating one (mode=rw), autocommit: what a checker or repairer wants."""
    uri = Path(path).resolve().as_uri() + "?mode=rw"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
    conn.create_function("fts_index_text", 1, index_text, deterministic=True)
    conn.create_function("has_unspaced", 1, has_unspaced, deterministic=True)
    return conn


def fts_text_sql(conn: sqlite3.Connection) -> str:
    """What a chunk's full-text row should hold, as SQL over `c`: segmented (indexer.segment) or as written.
    Needs the functions connect_existing registers."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='fts_segmenter'").fetchone()
    except sqlite3.DatabaseError:
        row = None
    return "fts_index_text(c.text)" if row is not None and row[0] == SEGMENTER else "c.text"


def needs_segmenting(conn: sqlite3.Connection) -> bool:
    """A full-text index written before segmentation, over chunks with Chinese/Japanese/Thai text."""
    try:
        if fts_text_sql(conn) != "c.text":
            return False
        return conn.execute("SELECT 1 FROM chunks c WHERE has_unspaced(c.text) LIMIT 1").fetchone() is not None
    except sqlite3.DatabaseError:
        return False


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: every query inside sees the same committed state (WAL keeps writers going).
    Already inside one on this connection: that one is the snapshot."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def read_generation(conn: sqlite3.Connection) -> int:
    """The commit counter: bumped by every write, stamped on the vector index it was built at."""
    return int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])


def bump_generation(conn: sqlite3.Connection) -> int:
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
    return read_generation(conn)


def rebuild_fts(conn: sqlite3.Connection) -> int:
    """Drop and refill the full-text index from the chunks (inside the caller's transaction); rows written."""
    conn.execute("DROP TABLE IF EXISTS chunks_fts")
    conn.execute(FTS_SCHEMA)
    rows = conn.execute(  # a rebuilt index is segmented, whatever the old one was (needs connect_existing's functions)
        "INSERT INTO chunks_fts (rowid, text, title) SELECT c.chunk_id, fts_index_text(c.text), fts_index_text(d.title)"
        " FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
    ).rowcount
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('fts_segmenter', ?)", (SEGMENTER,))
    return rows


# Words too common to help BM25 find anything; dropped from lexical queries that have other words.
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it its of on or that the this to was what"
    " when where which who why will with you your".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


# Distinct terms one lexical query sends to FTS5 (the first ones, stopwords dropped first). Every term is one
# more posting list to merge: a 1 MB query of distinct words once took 18.6 s, most of it in this OR query.
MAX_LEXICAL_TERMS = 64


def fts_terms(text: str, max_terms: int = MAX_LEXICAL_TERMS, segmented: bool = False) -> list[str]:
    """A user's words -> the distinct terms a lexical query looks for (stopwords dropped when others remain).

    segmented: the store indexes unspaced scripts a character per token (indexer.segment), so their
    runs in the query become phrases of adjacent characters."""
    words = [w.lower() for w in (query_terms(text) if segmented else _WORD.findall(text))]
    kept = [w for w in words if w not in _STOPWORDS] or words
    return list(dict.fromkeys(kept))[:max_terms]


def fts_query(text: str, max_terms: int = MAX_LEXICAL_TERMS, segmented: bool = False) -> str | None:
    """A user's words -> an FTS5 OR query of quoted terms (no operator injection); None if no words."""
    unique = fts_terms(text, max_terms, segmented)
    if not unique:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in unique)


def escape_like(text: str) -> str:
    """Text for a LIKE pattern with ESCAPE '\\': its wildcards match only themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class StoredChunk:
    chunk_id: int
    doc_id: str
    ordinal: int
    text: str
    start: int
    end: int
    heading_path: list[str]
    title: str
    source: str
    metadata: dict


@dataclass
class StoredDocument:
    doc_id: str
    title: str
    source: str
    content_hash: str
    metadata: dict
    text: str
    n_chunks: int
    updated_at: float


@dataclass
class FileRecord:
    path: str  # resolved path
    size: int
    mtime_ns: int
    doc_id: str  # the file's own id (documents from it may add a suffix: mail.mbox#3)
    doc_ids: list[str]  # every document the file produced


_FILES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " doc_id TEXT NOT NULL, doc_ids TEXT NOT NULL)"
)


@dataclass
class PreparedDocument:
    """A document ready to write: its chunks and one vector per chunk."""

    document: Document
    content_hash: str
    chunks: list[Chunk]
    vectors: np.ndarray
    language: str | None = None  # detected at index time (indexer.languages); None: too little text to tell


@dataclass
class WriteResult:
    added_ids: np.ndarray  # chunk ids now in SQLite, to add to the vector index
    added_vectors: np.ndarray
    removed_ids: np.ndarray  # chunk ids no longer in SQLite, to remove from the vector index
    generation: int


class Store:
    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        if not self._has_schema():  # opening must not need a write: readers beside a long write, read-only copies
            with self.transaction() as conn:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
                if not conn.execute("SELECT 1 FROM chunks LIMIT 1").fetchone():  # a new store segments from the start
                    conn.execute("INSERT OR IGNORE INTO meta VALUES ('fts_segmenter', ?)", (SEGMENTER,))
        # Stores made before segmentation keep their full-text rows as they were (`quarry check --repair` upgrades them).
        row = self.conn.execute("SELECT value FROM meta WHERE key='fts_segmenter'").fetchone()
        self.segmented = row is not None and row[0] == SEGMENTER

    def _has_schema(self) -> bool:
        try:
            rows = self.conn.execute("SELECT key FROM meta WHERE key IN ('schema_version', 'generation')").fetchall()
        except sqlite3.OperationalError:  # no meta table yet
            return False
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return len(rows) == 2 and {"documents", "chunks", "chunks_fts"} <= tables

    # connections -------------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)

    def _reconnect(self) -> None:
        """Drop this thread's connection; the next use opens a fresh one. SQLite opens a file it may not
        write read-only and keeps it so, so a connection made while permissions were wrong stays read-only
        after they are fixed."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._all_lock:
                if conn in self._all:
                    self._all.remove(conn)
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def _writing(self, write):
        """Run a write; when this thread's connection says the database is read-only, reopen it and try
        once more (permissions may have come back since it opened). A second refusal is the answer."""
        try:
            return write()
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc).lower() and "read-only" not in str(exc).lower():
                raise
            log.info("%s: connection is read-only; reopening it and retrying the write once", self.path)
            self._reconnect()
            return write()

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    class _Transaction:
        def __init__(self, conn: sqlite3.Connection):
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type, exc, tb) -> None:
            if exc_type is None:
                try:
                    self.conn.execute("COMMIT")
                    return
                except BaseException:
                    self._rollback()  # a failed COMMIT (disk full) leaves the transaction open
                    raise
            self._rollback()

        def _rollback(self) -> None:
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite already rolled back (some errors do that themselves)

    def transaction(self) -> "Store._Transaction":
        return Store._Transaction(self.conn)

    def snapshot(self):
        """A read transaction on this thread's connection (see the module's snapshot)."""
        return snapshot(self.conn)

    # reads ---------------------------------------------------------------------------------------
    def generation(self) -> int:
        return read_generation(self.conn)

    def counts(self) -> tuple[int, int]:
        docs = self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        chunks = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(docs), int(chunks)

    def content_hashes(self, doc_ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for part, marks in in_batches(doc_ids):
            rows = self.conn.execute(f"SELECT doc_id, content_hash FROM documents WHERE doc_id IN ({marks})", part)
            found.update(dict(rows.fetchall()))
        return found

    def documents_under(self, source_prefix: str) -> dict[str, str]:
        """doc_id -> source for documents whose source path starts with the prefix."""
        escaped = escape_like(source_prefix)
        rows = self.conn.execute(
            "SELECT doc_id, source FROM documents WHERE source LIKE ? ESCAPE '\\'", (escaped + "%",)
        )
        return dict(rows.fetchall())

    def ids_with_prefix(self, prefix: str) -> list[str]:
        rows = self.conn.execute("SELECT doc_id FROM documents WHERE doc_id LIKE ? ESCAPE '\\'", (escape_like(prefix) + "%",))
        return [r[0] for r in rows]

    def ids_from_source(self, source: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT doc_id FROM documents WHERE source = ?", (source,))]

    def get_document(self, doc_id: str) -> StoredDocument | None:
        doc_id = normalize_doc_id(doc_id)
        row = self.conn.execute(
            "SELECT doc_id, title, source, content_hash, metadata, text, n_chunks, updated_at"
            " FROM documents WHERE doc_id=?",
            (doc_id,),
        ).fetchone()
        if row is None:
            return None
        return StoredDocument(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7])

    def list_documents(self, limit: int = 100, offset: int = 0) -> list[StoredDocument]:
        rows = self.conn.execute(
            "SELECT doc_id FROM documents ORDER BY doc_id LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
        return [doc for (doc_id,) in rows if (doc := self.get_document(doc_id)) is not None]

    def language_counts(self) -> tuple[dict[str, int], int]:
        """(characters of text per detected language, documents with a detected language)."""
        try:
            rows = self.conn.execute("SELECT language, SUM(chars), COUNT(*) FROM doc_languages GROUP BY language").fetchall()
        except sqlite3.OperationalError:  # a collection written before languages were recorded
            return {}, 0
        return {language: int(chars) for language, chars, _ in rows}, sum(int(n) for _, _, n in rows)

    def sample_texts(self, n: int, chars: int = 2000) -> list[str]:
        """The opening text of up to n documents spread evenly over the collection (deterministic)."""
        total = self.counts()[0]
        step = max(1, total // max(n, 1))
        rows = self.conn.execute(
            "SELECT substr(text, 1, ?) FROM (SELECT text, ROW_NUMBER() OVER (ORDER BY doc_id) AS r FROM documents)"
            " WHERE (r - 1) % ? = 0 LIMIT ?", (chars, step, n),
        ).fetchall()
        return [r[0] for r in rows]

    def chunks_by_id(self, chunk_ids: Iterable[int]) -> dict[int, StoredChunk]:
        found: dict[int, StoredChunk] = {}
        with self.snapshot() as conn:  # one state across parts: never half of a replaced document
            for part, marks in in_batches([int(i) for i in chunk_ids]):
                rows = conn.execute(
                    "SELECT c.chunk_id, c.doc_id, c.ordinal, c.text, c.start, c.end, c.heading_path,"
                    " d.title, d.source, d.metadata"
                    f" FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.chunk_id IN ({marks})",
                    part,
                )
                for r in rows:
                    metadata = chunk_metadata(json.loads(r[9]), r[4])
                    found[r[0]] = StoredChunk(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8], metadata)
        return found

    def lexical_search(self, query: str, k: int, where: SqlFilter | None = None) -> list[tuple[int, float]]:
        """BM25 over chunk text and, weighted FTS_WEIGHTS[1], the document title: [(chunk_id, score)], best first.

        `where`: a compiled metadata filter (indexer.filters), a condition over `documents d` with its parameters.
        """
        match = fts_query(query, segmented=self.segmented)
        if match is None or k <= 0:
            return []
        if where is None:
            rows = self.conn.execute(
                f"SELECT rowid, bm25(chunks_fts, {FTS_WEIGHTS[0]}, {FTS_WEIGHTS[1]}) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?",
                (match, k),
            ).fetchall()
        else:
            rows = self.conn.execute(
                f"SELECT rowid, bm25(chunks_fts, {FTS_WEIGHTS[0]}, {FTS_WEIGHTS[1]}) AS s FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN"
                f" (SELECT c.chunk_id FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE {where.sql})"
                " ORDER BY s LIMIT ?",
                (match, *where.params, k),
            ).fetchall()
        return [(int(rowid), -float(score)) for rowid, score in rows]

    def chunks_matching(self, chunk_ids: Iterable[int], where: SqlFilter) -> set[int]:
        """The chunk ids whose documents satisfy the filter (see lexical_search for `where`)."""
        found: set[int] = set()
        for part, marks in in_batches([int(i) for i in chunk_ids]):
            rows = self.conn.execute(
                f"SELECT c.chunk_id FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
                f" WHERE c.chunk_id IN ({marks}) AND ({where.sql})",
                (*part, *where.params),
            )
            found.update(r[0] for r in rows)
        return found

    def iter_vectors(self, batch: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All (chunk ids, vectors) in id order, in batches: what a rebuilt vector index is made of."""
        last = -1
        while True:
            rows = self.conn.execute(
                "SELECT chunk_id, vector FROM chunks WHERE chunk_id > ? ORDER BY chunk_id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            yield ids, vectors
            last = int(ids[-1])

    def chunk_ids(self) -> np.ndarray:
        rows = self.conn.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def vectors_for(self, chunk_ids: np.ndarray) -> np.ndarray:
        found, vectors = self.present_vectors(chunk_ids)
        if len(found) != len(chunk_ids):
            raise KeyError(f"chunks not stored: {sorted(set(np.asarray(chunk_ids).tolist()) - set(found.tolist()))[:10]}")
        return vectors

    def present_vectors(self, chunk_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of the chunks among these that exist, in the order asked; missing ones are skipped."""
        ids, out = [], []
        for part, marks in in_batches([int(i) for i in chunk_ids]):
            rows = dict(self.conn.execute(f"SELECT chunk_id, vector FROM chunks WHERE chunk_id IN ({marks})", part))
            for j in part:
                if j in rows:
                    ids.append(j)
                    out.append(np.frombuffer(rows[j], dtype=np.float32))
        return np.array(ids, dtype=np.int64), (np.stack(out) if out else np.zeros((0, 0), dtype=np.float32))

    # files: what each indexed file looked like, so an unchanged one is not even read again ------------
    def _has_files_table(self) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='files'").fetchone() is not None

    def file_records(self) -> dict[str, FileRecord]:
        """path -> what it was when last indexed; empty for collections made before files were recorded."""
        if not self._has_files_table():
            return {}
        rows = self.conn.execute("SELECT path, size, mtime_ns, doc_id, doc_ids FROM files")
        return {r[0]: FileRecord(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows}

    def record_files(self, records: list[FileRecord]) -> None:
        """Remember files whose documents are all committed (created here on first use: opening never writes)."""
        if not records:
            return
        with self.transaction() as conn:
            conn.execute(_FILES_SCHEMA)
            conn.executemany(
                "INSERT OR REPLACE INTO files (path, size, mtime_ns, doc_id, doc_ids) VALUES (?, ?, ?, ?, ?)",
                [(r.path, r.size, r.mtime_ns, r.doc_id, json.dumps(r.doc_ids, ensure_ascii=False)) for r in records],
            )

    def forget_files(self, paths: list[str]) -> None:
        if paths and self._has_files_table():
            with self.transaction() as conn:
                conn.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])

    def ids_by_source(self) -> dict[str, list[str]]:
        """source -> the ids of the documents that came from it (how files indexed before ids were recorded keep theirs)."""
        out: dict[str, list[str]] = {}
        for doc_id, source in self.conn.execute("SELECT doc_id, source FROM documents WHERE source != ''"):
            out.setdefault(source, []).append(doc_id)
        return out

    def fts_row(self, text: str, title: str) -> tuple[str, str]:
        return (index_text(text), index_text(title)) if self.segmented else (text, title)

    @staticmethod
    def _has_table(conn: sqlite3.Connection, name: str) -> bool:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None

    @staticmethod
    def read_directory(path: str | Path) -> list[tuple[str, str, str, int]]:
        """[(doc id, content hash, source, chunks)] of a database, read without writing to it (a sealed segment)."""
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        try:
            return conn.execute("SELECT doc_id, content_hash, source, n_chunks FROM documents").fetchall()
        finally:
            conn.close()

    # writes --------------------------------------------------------------------------------------
    def _bump_generation(self, conn: sqlite3.Connection) -> int:
        return bump_generation(conn)

    @staticmethod
    def _remove_chunks(conn: sqlite3.Connection, doc_ids: list[str]) -> list[int]:
        removed: list[int] = []
        for part, marks in in_batches(doc_ids):
            ids = [r[0] for r in conn.execute(f"SELECT chunk_id FROM chunks WHERE doc_id IN ({marks})", part)]
            if ids:
                id_marks = ",".join("?" * len(ids))
                conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({id_marks})", ids)
                conn.execute(f"DELETE FROM chunks WHERE chunk_id IN ({id_marks})", ids)
            removed.extend(ids)
        return removed

    @classmethod
    def _drop_from_directory(cls, conn: sqlite3.Connection, doc_ids: list[str]) -> int:
        """Forget where sealed segments hold these documents (indexer.segments): their rows there are dead now."""
        if not cls._has_table(conn, DIRECTORY_TABLE):
            return 0
        return sum(conn.execute(f"DELETE FROM {DIRECTORY_TABLE} WHERE doc_id IN ({marks})", part).rowcount for part, marks in in_batches(doc_ids))

    def drop_documents(self, conn: sqlite3.Connection, doc_ids: list[str]) -> tuple[int, list[int]]:
        """Inside the caller's transaction: remove documents from this database and the directory;
        (documents that existed, chunk ids removed here)."""
        removed = self._remove_chunks(conn, doc_ids)
        existed = self._drop_from_directory(conn, doc_ids)
        for part, marks in in_batches(doc_ids):
            existed += conn.execute(f"DELETE FROM documents WHERE doc_id IN ({marks})", part).rowcount
            if self._has_table(conn, "doc_languages"):
                conn.execute(f"DELETE FROM doc_languages WHERE doc_id IN ({marks})", part)
        return existed, removed

    def write_documents(self, prepared: list[PreparedDocument]) -> WriteResult:
        """Insert or replace whole documents, all in one transaction."""
        return self._writing(lambda: self._write_documents(prepared))

    def _write_documents(self, prepared: list[PreparedDocument]) -> WriteResult:
        added_ids: list[int] = []
        added_vectors: list[np.ndarray] = []
        now = time.time()
        with self.transaction() as conn:
            removed = self._remove_chunks(conn, [p.document.doc_id for p in prepared])
            self._drop_from_directory(conn, [p.document.doc_id for p in prepared])
            conn.execute(LANGUAGE_SCHEMA)
            for p in prepared:
                if p.language is None:
                    conn.execute("DELETE FROM doc_languages WHERE doc_id=?", (p.document.doc_id,))
                else:
                    conn.execute("INSERT OR REPLACE INTO doc_languages VALUES (?, ?, ?)", (p.document.doc_id, p.language, len(p.document.text)))
                doc = p.document
                conn.execute(
                    "INSERT INTO documents (doc_id, title, source, content_hash, metadata, text, n_chunks, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(doc_id) DO UPDATE SET title=excluded.title,"
                    " source=excluded.source, content_hash=excluded.content_hash, metadata=excluded.metadata,"
                    " text=excluded.text, n_chunks=excluded.n_chunks, updated_at=excluded.updated_at",
                    (doc.doc_id, doc.title, doc.source, p.content_hash, json.dumps(doc.metadata, ensure_ascii=False, allow_nan=False),
                     doc.text, len(p.chunks), now),
                )  # fmt: skip
                for chunk, vector in zip(p.chunks, p.vectors):
                    cursor = conn.execute(
                        "INSERT INTO chunks (doc_id, ordinal, text, start, end, heading_path, vector)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (doc.doc_id, chunk.ordinal, chunk.text, chunk.start, chunk.end,
                         json.dumps(chunk.heading_path, ensure_ascii=False), np.asarray(vector, np.float32).tobytes()),
                    )  # fmt: skip
                    chunk_id = cursor.lastrowid
                    conn.execute("INSERT INTO chunks_fts (rowid, text, title) VALUES (?, ?, ?)", (chunk_id, *self.fts_row(chunk.text, doc.title)))
                    added_ids.append(chunk_id)
                    added_vectors.append(vector)
            generation = self._bump_generation(conn)
        dim = prepared[0].vectors.shape[1] if prepared and prepared[0].vectors.ndim == 2 else 0
        vectors = np.stack(added_vectors).astype(np.float32) if added_vectors else np.zeros((0, dim), np.float32)
        return WriteResult(np.asarray(added_ids, np.int64), vectors, np.asarray(removed, np.int64), generation)

    def delete_documents(self, doc_ids: list[str]) -> tuple[int, WriteResult]:
        """Delete documents; returns how many existed and the chunk ids to drop from the vector index."""
        doc_ids = [normalize_doc_id(d) for d in doc_ids]
        return self._writing(lambda: self._delete_documents(doc_ids))

    def _delete_documents(self, doc_ids: list[str]) -> tuple[int, WriteResult]:
        with self.transaction() as conn:
            existed, removed = self.drop_documents(conn, doc_ids)
            generation = self._bump_generation(conn)
        empty = np.zeros((0,), np.int64)
        return existed, WriteResult(empty, np.zeros((0, 0), np.float32), np.asarray(removed, np.int64), generation)
