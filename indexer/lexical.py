"""Lexical (BM25) search across a collection's segments.

One segment: FTS5's own bm25() (its statistics are the collection's). Several: each segment is asked for
its best matches, dead rows (documents replaced or deleted since, see indexer.segments) are dropped, and
the lists are merged by score.
"""

from __future__ import annotations

from indexer.filters import SqlFilter
from indexer.segment_set import SegmentSet
from indexer.segments import global_id
from indexer.store import Store


def _live_hits(segments: SegmentSet, name: str, ordinal: int, query: str, k: int, where: SqlFilter | None) -> list[tuple[int, float]]:
    store = segments.store(name)
    fetch = max(k, 16)
    while True:
        found = store.lexical_search(query, fetch, where)
        docs = segments._doc_of(store, [cid for cid, _ in found]) if found else {}
        alive = segments.live_ids(name, docs.values())
        hits = [(int(global_id(ordinal, cid)), score) for cid, score in found if docs.get(cid) in alive]
        if len(hits) >= k or len(found) < fetch:
            return hits[:k]
        fetch *= 4


def lexical_search(base: Store, segments: SegmentSet, query: str, k: int, where: SqlFilter | None = None) -> list[tuple[int, float]]:
    """[(collection-wide chunk id, BM25)] best first over the base and every live sealed segment."""
    if k <= 0:
        return []
    hits = base.lexical_search(query, k, where)
    for name, ordinal in segments.live:
        hits += _live_hits(segments, name, ordinal, query, k, where)
    hits.sort(key=lambda h: (-h[1], h[0]))
    return hits[:k]
