"""Lexical (BM25) search across a collection's segments, with collection-wide statistics.

With only the base database, FTS5's own bm25() ranks: its statistics are the collection's. With sealed
segments (indexer.segments), each FTS5 index knows only its own row count, average length and document
frequencies, and on small segments that reorders a large share of the top 10. So, as Lucene and Tantivy
do, the statistics are summed over the segments and every candidate is scored with the sums: the ranking
no longer depends on how documents fell into segments. The formula is FTS5's bm25() (fts5_aux.c) term
for term: k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6, a phrase's frequency
summed over columns with their weights, and a row's length counted over all columns, so one segment
scores here exactly as FTS5 scores it (tested).

Where the numbers come from, per segment: the row count and total tokens from FTS5's averages record
(`chunks_fts_data`, id 1), each row's length from `chunks_fts_docsize`, and the occurrences of each query
token from an `fts5vocab` instance table (made in the connection's temp schema: nothing is written). Query
phrases are tokenized by FTS5 itself (an in-memory table with the same tokenizer), never re-implemented.

Rows of replaced or deleted documents still count in the statistics until a merge drops them (Lucene
does the same); they are never returned.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable

from indexer.filters import SqlFilter
from indexer.segment_set import SegmentSet
from indexer.segments import global_id, split_ids
from indexer.store import FTS_TOKENIZE, FTS_WEIGHTS, Store, fts_terms, in_batches

K1, B = 1.2, 0.75
_COLUMN_WEIGHT = {"text": FTS_WEIGHTS[0], "title": FTS_WEIGHTS[1]}
_VOCAB = "CREATE VIRTUAL TABLE IF NOT EXISTS temp.quarry_fts_instance USING fts5vocab(main, chunks_fts, instance)"
_local = threading.local()


def tokens(phrase: str) -> list[str]:
    """The tokens FTS5 makes of a quoted query phrase (its own tokenizer, in a private in-memory table)."""
    conn = getattr(_local, "tokenizer", None)
    if conn is None:
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{FTS_TOKENIZE}')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
        _local.tokenizer = conn
    conn.execute("DELETE FROM t")
    conn.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (phrase,))
    return [r[0] for r in conn.execute("SELECT term FROM v ORDER BY offset")]


def _varints(blob: bytes) -> list[int]:
    """SQLite's varints (big-endian, 7 bits a byte, a 9th byte of 8 bits), as FTS5 stores its sizes."""
    out, i = [], 0
    while i < len(blob):
        value = 0
        for n in range(9):
            byte = blob[i]
            i += 1
            if n == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        out.append(value)
    return out


def totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """(rows, tokens over all columns) of one FTS5 index."""
    row = conn.execute("SELECT block FROM chunks_fts_data WHERE id = 1").fetchone()
    if row is None or not row[0]:
        return 0, 0
    values = _varints(row[0])
    return values[0], sum(values[1:])


def lengths(conn: sqlite3.Connection, rowids: Iterable[int]) -> dict[int, int]:
    """Tokens over all columns of each row."""
    out: dict[int, int] = {}
    for part, marks in in_batches(list(rowids)):
        for rowid, size in conn.execute(f"SELECT id, sz FROM chunks_fts_docsize WHERE id IN ({marks})", part):
            out[rowid] = sum(_varints(size))
    return out


def frequencies(conn: sqlite3.Connection, phrase: list[str]) -> dict[int, float]:
    """rowid -> occurrences of the phrase, each weighted by its column (FTS5 bm25's phrase frequency)."""
    conn.execute(_VOCAB)
    if len(phrase) == 1:
        rows = conn.execute("SELECT doc, col, COUNT(*) FROM temp.quarry_fts_instance WHERE term = ? GROUP BY doc, col", (phrase[0],))
        out: dict[int, float] = defaultdict(float)
        for doc, col, n in rows:
            out[doc] += n * _COLUMN_WEIGHT.get(col, 1.0)
        return dict(out)
    positions = []
    for token in phrase:
        at: dict[tuple[int, str], set[int]] = defaultdict(set)
        for doc, col, offset in conn.execute("SELECT doc, col, offset FROM temp.quarry_fts_instance WHERE term = ?", (token,)):
            at[(doc, col)].add(offset)
        positions.append(at)
    out = defaultdict(float)
    for key, starts in positions[0].items():
        n = sum(1 for o in starts if all(o + j in positions[j].get(key, ()) for j in range(1, len(phrase))))
        if n:
            out[key[0]] += n * _COLUMN_WEIGHT.get(key[1], 1.0)
    return dict(out)


def _phrases(store: Store, query: str) -> list[list[str]]:
    found = [tokens(term) for term in fts_terms(query, segmented=store.segmented)]
    return [p for p in found if p]


def scored(parts: list[tuple[int, Store]], query: str) -> list[tuple[int, float]]:
    """[(collection-wide id, BM25)] of every row matching the query in these (ordinal, store) parts, best first."""
    per_part = []
    rows_total = tokens_total = 0
    hits: dict[int, int] = defaultdict(int)  # phrase -> rows holding it, over all parts
    for ordinal, store in parts:
        conn = store.conn
        rows, toks = totals(conn)
        rows_total, tokens_total = rows_total + rows, tokens_total + toks
        freqs = [frequencies(conn, phrase) for phrase in _phrases(store, query)]
        for i, f in enumerate(freqs):
            hits[i] += len(f)
        per_part.append((ordinal, conn, freqs))
    if rows_total == 0:
        return []
    avgdl = tokens_total / rows_total
    idf = {i: max(math.log((rows_total - n + 0.5) / (n + 0.5)), 1e-6) for i, n in hits.items()}
    out: list[tuple[int, float]] = []
    for ordinal, conn, freqs in per_part:
        matched = set().union(*freqs) if freqs else set()
        size = lengths(conn, matched)
        for rowid in matched:
            norm = K1 * (1 - B + B * size.get(rowid, 0) / avgdl)
            score = sum(idf[i] * f[rowid] * (K1 + 1) / (f[rowid] + norm) for i, f in enumerate(freqs) if rowid in f)
            out.append((int(global_id(ordinal, rowid)), score))
    out.sort(key=lambda h: (-h[1], h[0]))
    return out


def lexical_search(base: Store, segments: SegmentSet, query: str, k: int, where: SqlFilter | None = None) -> list[tuple[int, float]]:
    """[(collection-wide chunk id, BM25)] best first over the base and every live sealed segment."""
    if k <= 0:
        return []
    parts = [(0, base)] + [(ordinal, segments.store(name)) for name, ordinal in segments.live]
    candidates = scored(parts, query)
    names = segments.by_ordinal
    out: list[tuple[int, float]] = []
    step = max(4 * k, 64)
    for start in range(0, len(candidates), step):  # check liveness and the filter on the best first
        window = candidates[start : start + step]
        keep = _keep([cid for cid, _ in window], base, segments, names, where)
        out += [h for h in window if h[0] in keep]
        if len(out) >= k:
            break
    return out[:k]


def _keep(ids: list[int], base: Store, segments: SegmentSet, names: dict[int, str], where: SqlFilter | None) -> set[int]:
    keep: set[int] = set()
    for ordinal, local in split_ids(ids).items():
        if ordinal == 0:
            keep |= set(base.chunks_matching(local, where)) if where is not None else set(local)
            continue
        name = names.get(ordinal)
        if name is None:
            continue
        store = segments.store(name)
        docs = segments.doc_of(store, local)
        alive = segments.live_ids(name, docs.values())
        local = [i for i in local if docs.get(i) in alive]
        if where is not None:
            local = list(store.chunks_matching(local, where))
        keep |= {int(global_id(ordinal, i)) for i in local}
    return keep
