"""Relevance on a 0..1 scale, for clients that threshold scores (OpenAI score_threshold, Cohere
relevance_score, the context endpoint's "no relevant context").

The search pipeline's own scores change scale with the last stage (reranker logits, RRF, cosine, BM25),
which no fixed threshold can serve. Here a hit's relevance is the sigmoid of the cross-encoder's logit
when the results were reranked, else the cosine similarity between the query and the chunk's stored
vector (clipped at 0). Both are 0..1 and comparable across queries for one model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.collection import Collection
from service.search.pipeline import SearchHit, SearchResult


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass
class ScoredHit:
    hit: SearchHit
    relevance: float


@dataclass
class RelevantResult:
    query: str
    reranked: bool
    score_kind: str  # "reranker" (sigmoid of the cross-encoder logit) or "cosine"
    hits: list[ScoredHit]
    rerank_note: str = ""


def with_relevance(collection: Collection, result: SearchResult, vector: np.ndarray | None, score_threshold: float = 0.0) -> RelevantResult:
    """Every hit of `result` given a 0..1 relevance (vector: the query's embedding); hits below the threshold dropped."""
    if result.reranked:
        scores = sigmoid([h.score for h in result.hits])
        kind = "reranker"
    else:
        scores = _cosine(collection, vector, result.hits)
        kind = "cosine"
    scored = [ScoredHit(hit, round(float(s), 6)) for hit, s in zip(result.hits, scores)]
    if not result.reranked:  # fused or lexical order is not the cosine order: sort by what we report
        scored.sort(key=lambda s: -s.relevance)
    scored = [s for s in scored if s.relevance >= score_threshold]
    return RelevantResult(result.query, result.reranked, kind, scored, result.rerank_note)


def _cosine(collection: Collection, vector: np.ndarray | None, hits: list[SearchHit]) -> np.ndarray:
    if not hits or vector is None:
        return np.zeros(len(hits))
    ids = np.asarray([h.chunk_id for h in hits], dtype=np.int64)
    vectors = collection.vectors(ids)
    return np.clip(vectors @ np.asarray(vector, dtype=np.float32), 0.0, 1.0)  # stored vectors are normalized


def rerank_texts(reranker, query: str, texts: list[str], top_n: int | None = None) -> list[tuple[int, float]]:
    """(index, relevance 0..1) for each text, best first, at most top_n."""
    return best_first(sigmoid(reranker.score(query, texts)) if texts else np.zeros(0), top_n)


def best_first(scores: np.ndarray, top_n: int | None = None) -> list[tuple[int, float]]:
    """(index, score) pairs sorted by score, ties in the given order, at most top_n."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    if top_n is not None:
        order = order[:top_n]
    return [(int(i), round(float(scores[i]), 6)) for i in order]
