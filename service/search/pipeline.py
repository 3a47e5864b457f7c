"""The search pipeline: one function from a query to ranked hits (service.search.searcher binds its configuration).

query -> embed -> dense top-k (FAISS) + lexical top-k (FTS5 BM25) -> fuse -> rerank top N -> hits
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from indexer.collection import Collection
from indexer.filters import Node, parse_filter
from models.protocols import PairScorer, TextEncoder
from service.search.fusion import FusionConfig, blend_rerank, fuse, profile_for
from service.search.options import MODES, InvalidQuery, SearchMode


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


RETRIEVE_ATTEMPTS = 3  # retrievals of one search when commits keep landing between retrieval and fetch


def validate_query(query: str, top_k: int, mode: str, candidates: int) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidQuery("empty query: give some words to search for")
    if mode not in MODES:
        raise InvalidQuery(f"unknown search mode {str(mode)!r}: use one of {', '.join(MODES)}")
    if top_k < 1:
        raise InvalidQuery(f"top_k must be at least 1 (got {top_k})")
    if candidates < 1:
        raise InvalidQuery(f"candidates must be at least 1 (got {candidates})")
    return query.strip()


def search(
    collection: Collection,
    embedder: TextEncoder,
    query: str,
    *,
    top_k: int = 10,
    mode: SearchMode | str = SearchMode.HYBRID,
    reranker: PairScorer | None = None,
    rerank: bool = True,
    candidates: int = 50,
    rerank_note: str = "",
    rerank_depth: int | None = None,
    filter: dict | Node | None = None,
    min_score: float | None = None,
    group_by_document: bool = False,
    query_vector: np.ndarray | None = None,
    fusion: FusionConfig | None = None,
) -> SearchResult:
    """Retrieve, fuse and (when a reranker is given and asked for) rerank. Scores: higher is better.

    filter: a metadata filter (see indexer.filters) applied inside both retrievers, so top_k hits that
    match are found even when most chunks do not. min_score drops hits scoring below it (the scale is
    the final stage's: reranker score, the normalized hybrid blend, cosine or BM25). group_by_document keeps each document's
    best chunk. query_vector: an embedding computed by the caller (batch search embeds all at once).
    """
    query = validate_query(query, top_k, mode, candidates)
    mode = SearchMode(mode)
    where = filter if isinstance(filter, Node) else parse_filter(filter)  # a bad filter fails before any work
    depth = max(candidates, top_k)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    vector = None
    for attempt in range(RETRIEVE_ATTEMPTS):
        generation = collection.generation()
        try:
            dense: list[tuple[int, float]] = []
            lexical: list[tuple[int, float]] = []
            if mode.embeds:
                if vector is None:
                    t = time.perf_counter()
                    vector = embedder.encode([query_text(collection, query)])[0] if query_vector is None else query_vector
                    timings["embed"] = _ms(t)
                t = time.perf_counter()
                dense = collection.dense_search(vector, depth, where)
                timings["dense"] = _ms(t)
            if mode is not SearchMode.DENSE:
                t = time.perf_counter()
                lexical = collection.lexical_search(query, depth, where)
                timings["lexical"] = _ms(t)

            if mode is SearchMode.HYBRID:
                profile = profile_for(collection, fusion) if fusion is None or fusion.method == "adaptive" else None
                ranked = fuse(dense, lexical, fusion, query=query, profile=profile)
            else:
                ranked = dense or lexical
            ranked = ranked[:depth]
            timings["retrieve"] = round(timings.get("dense", 0.0) + timings.get("lexical", 0.0), 3)

            chunks = collection.chunks([cid for cid, _ in ranked])  # one committed state: a rewritten document is all old or all new
        except (OSError, sqlite3.Error):  # a segment this search was reading was merged away and removed
            if attempt + 1 == RETRIEVE_ATTEMPTS or collection.generation() == generation:
                raise
            continue
        if len(chunks) == len(ranked) or collection.generation() == generation:
            break
        # a commit landed between retrieval and fetch: a merge or optimize renumbers the chunks it moves, so
        # their ids are gone although their documents are not; retrieve again from the new state
    ranked = [(cid, score) for cid, score in ranked if cid in chunks]  # deleted since the index saw them

    reranked = False
    if rerank and reranker is not None and ranked:
        if rerank_depth is not None:  # the reranker sees the best-fused candidates only, always enough for top_k
            ranked = ranked[: max(rerank_depth, top_k)]
        t = time.perf_counter()
        scores = reranker.score(query, [chunks[cid].text for cid, _ in ranked])
        ranked = blend_rerank(ranked, scores, fusion)
        timings["rerank"] = _ms(t)
        reranked = True
    elif rerank and reranker is None and not rerank_note:
        rerank_note = "no reranker configured"

    if min_score is not None:
        ranked = [(cid, score) for cid, score in ranked if score >= min_score]
    if group_by_document:
        seen: set[str] = set()
        ranked = [(cid, s) for cid, s in ranked if not (chunks[cid].doc_id in seen or seen.add(chunks[cid].doc_id))]

    hits = []
    for chunk_id, score in ranked[:top_k]:
        c = chunks[chunk_id]
        hits.append(SearchHit(c.doc_id, chunk_id, round(float(score), 6), c.text, c.title, c.source, c.metadata, c.start, c.end, c.heading_path))
    timings["total"] = _ms(started)
    return SearchResult(query, mode.value, reranked, hits, timings, "" if reranked else rerank_note)


def query_text(collection: Collection, query: str) -> str:
    """What the embedder sees for a query: with the prefix the collection was embedded for."""
    return collection.manifest.query_prefix + query


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
