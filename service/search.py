"""The search pipeline shared by the CLI and the API.

query -> embed -> dense top-k (FAISS) + lexical top-k (FTS5 BM25) -> fuse -> rerank top N -> hits
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from indexer.collection import Collection
from service.fusion import blend_rerank, fuse

MODES = ("hybrid", "dense", "lexical")


class InvalidQuery(ValueError):
    pass


@dataclass
class SearchHit:
    doc_id: str
    chunk_id: int
    score: float
    text: str
    title: str
    source: str
    metadata: dict
    start: int
    end: int
    heading_path: list[str] = field(default_factory=list)


@dataclass
class SearchResult:
    query: str
    mode: str
    reranked: bool
    hits: list[SearchHit]
    timings_ms: dict[str, float]
    rerank_note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def validate_query(query: str, top_k: int, mode: str, candidates: int) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidQuery("empty query: give some words to search for")
    if mode not in MODES:
        raise InvalidQuery(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
    if top_k < 1:
        raise InvalidQuery(f"top_k must be at least 1 (got {top_k})")
    if candidates < 1:
        raise InvalidQuery(f"candidates must be at least 1 (got {candidates})")
    return query.strip()


def search(
    collection: Collection,
    embedder,
    query: str,
    *,
    top_k: int = 10,
    mode: str = "hybrid",
    reranker=None,
    rerank: bool = True,
    candidates: int = 50,
    rerank_note: str = "",
) -> SearchResult:
    """Retrieve, fuse and (when a reranker is given and asked for) rerank. Scores: higher is better."""
    query = validate_query(query, top_k, mode, candidates)
    depth = max(candidates, top_k)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    dense: list[tuple[int, float]] = []
    lexical: list[tuple[int, float]] = []
    if mode in ("hybrid", "dense"):
        t = time.perf_counter()
        vector = embedder.encode([query])[0]
        timings["embed"] = _ms(t)
        t = time.perf_counter()
        dense = collection.dense_search(vector, depth)
        timings["dense"] = _ms(t)
    if mode in ("hybrid", "lexical"):
        t = time.perf_counter()
        lexical = collection.lexical_search(query, depth)
        timings["lexical"] = _ms(t)

    if mode == "hybrid":
        ranked = fuse(dense, lexical)
    else:
        ranked = dense or lexical
    ranked = ranked[:depth]
    timings["retrieve"] = round(timings.get("dense", 0.0) + timings.get("lexical", 0.0), 3)

    chunks = collection.store.chunks_by_id([cid for cid, _ in ranked])
    ranked = [(cid, score) for cid, score in ranked if cid in chunks]  # deleted since the index saw them

    reranked = False
    if rerank and reranker is not None and ranked:
        t = time.perf_counter()
        scores = reranker.score(query, [chunks[cid].text for cid, _ in ranked])
        ranked = blend_rerank(ranked, scores)
        timings["rerank"] = _ms(t)
        reranked = True
    elif rerank and reranker is None and not rerank_note:
        rerank_note = "no reranker configured"

    hits = []
    for chunk_id, score in ranked[:top_k]:
        c = chunks[chunk_id]
        hits.append(SearchHit(c.doc_id, chunk_id, round(float(score), 6), c.text, c.title, c.source, c.metadata, c.start, c.end, c.heading_path))
    timings["total"] = _ms(started)
    return SearchResult(query, mode, reranked, hits, timings, "" if reranked else rerank_note)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
