"""Scoring caller-supplied passages against a query when no cross-encoder is loaded (POST /v1/rerank).

A chat frontend's "external reranker" sends the passages its own retrieval found. Without a cross-encoder the
best we have is the embedder: the cosine between the query and each passage (0..1 after clipping), which is
what a dense retriever would have ranked them by. BM25 computed over the given passages alone (their own
document frequencies) can add exact-word evidence; `benchmarks/rerank_fallback.py` measures whether it helps,
and the blend weight defaults to what that measurement supports.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

# BM25's share in the fallback: on msmarco-subset it never measurably helped (nDCG@10 0.7977 alone, 0.7979 at
# 0.1, lower above), so the embedder answers alone; benchmarks/rerank_fallback.py, docs/quality.md
FALLBACK_BM25_WEIGHT = 0.0
_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def bm25_scores(query: str, passages: list[str], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 of each passage, with document frequencies and lengths taken from these passages only."""
    docs = [tokens(p) for p in passages]
    n = len(docs)
    if n == 0:
        return np.zeros(0)
    avg_len = sum(len(d) for d in docs) / n or 1.0
    df = Counter(term for d in docs for term in set(d))
    scores = np.zeros(n)
    for term in set(tokens(query)):
        if term not in df:
            continue
        idf = math.log(1.0 + (n - df[term] + 0.5) / (df[term] + 0.5))
        for i, doc in enumerate(docs):
            tf = doc.count(term)
            if tf:
                scores[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avg_len))
    return scores


def _unit_scale(scores: np.ndarray) -> np.ndarray:
    """BM25 on 0..1 by dividing by the best score here (0 stays 0: no shared word is no evidence)."""
    top = float(scores.max()) if scores.size else 0.0
    return scores / top if top > 0 else np.zeros_like(scores)


class EmbeddingPairScorer:
    """Relevance 0..1 of passages to a query from the embedder's cosine, optionally blended with BM25."""

    def __init__(self, embedder, bm25_weight: float = 0.0):
        self.embedder = embedder
        self.bm25_weight = bm25_weight

    @property
    def name(self) -> str:
        return "embedder+bm25" if self.bm25_weight > 0 else "embedder"

    def relevance(self, query: str, passages: list[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0)
        bm25 = bm25_scores(query, passages) if self.bm25_weight > 0 else np.zeros(len(passages))
        return blend(self.cosine(query, passages), bm25, self.bm25_weight)

    def cosine(self, query: str, passages: list[str]) -> np.ndarray:
        vectors = self.embedder.encode([query.strip(), *passages])
        return np.clip(vectors[1:] @ vectors[0], 0.0, 1.0).astype(np.float64)


def blend(cosine: np.ndarray, bm25: np.ndarray, bm25_weight: float) -> np.ndarray:
    """(1 - w) * cosine + w * BM25 scaled to 0..1 by the best passage's score."""
    if bm25_weight <= 0:
        return cosine
    return (1 - bm25_weight) * cosine + bm25_weight * _unit_scale(bm25)
