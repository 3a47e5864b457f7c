"""Combine ranked lists from the dense and lexical retrievers, and retrieval with reranker scores.

The search pipeline calls `fuse` and `blend_rerank` only, so fusion can be tuned here alone.

Default fusion: a convex combination of per-query min-max normalized scores, dense weight 0.7
(`QUARRY_FUSION_DENSE_WEIGHT`), over the dense list and the top 50 BM25 hits (a fixed BM25 depth, so
the normalization floor, and the ranking, do not change with how many hits the caller asks for). Plain RRF (k=60) weighs a BM25 rank like a dense rank and, on
MS MARCO passages where dense retrieval is much stronger, loses to dense alone; score fusion keeps how
far apart the scores are, so a BM25 hit that stands out (a rare code or identifier) still rises while
BM25's near-ties cannot push good dense hits down. See docs/quality.md for the measurements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Ranked = Sequence[tuple[int, float]]  # (chunk id, score), best first
METHODS = ("convex", "rrf")


@dataclass(frozen=True)
class FusionConfig:
    method: str = "convex"  # "convex": weighted min-max normalized scores; "rrf": weighted reciprocal rank fusion
    dense_weight: float = 0.7  # share of the dense retriever, in [0, 1]; the lexical one gets the rest
    rrf_k: int = 60
    lexical_depth: int = 50  # BM25 hits fused; 0 = all. Keeps min-max independent of how deep the caller asks
    rerank_weight: float = 1.0  # share of the reranker in the final score; 1.0 = order by the reranker alone

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown fusion method {self.method!r}: use one of {', '.join(METHODS)}")
        if self.lexical_depth < 0:
            raise ValueError("lexical_depth must be 0 (all) or more")
        if not 0.0 <= self.dense_weight <= 1.0 or not 0.0 <= self.rerank_weight <= 1.0:
            raise ValueError("fusion weights must lie between 0 and 1")


def reciprocal_rank_fusion(lists: Sequence[Ranked], weights: Sequence[float] | None = None, k: int = 60) -> list[tuple[int, float]]:
    """Weighted RRF: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1."""
    weights = weights or [1.0] * len(lists)
    fused: dict[int, float] = {}
    for ranked, weight in zip(lists, weights):
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def minmax(scores: Sequence[float]) -> np.ndarray:
    """Scores -> [0, 1] within one query's list; a list of equal scores maps to all ones."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return values
    low, high = values.min(), values.max()
    if high - low <= 1e-12:
        return np.ones_like(values)
    return (values - low) / (high - low)


def convex_fusion(lists: Sequence[Ranked], weights: Sequence[float]) -> list[tuple[int, float]]:
    """score(d) = sum_i w_i * minmax_i(d); a document absent from a list gets 0 from it (its list's floor)."""
    fused: dict[int, float] = {}
    for ranked, weight in zip(lists, weights):
        if not ranked:
            continue
        normalized = minmax([score for _, score in ranked])
        for (chunk_id, _), value in zip(ranked, normalized):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * float(value)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def fuse(dense: Ranked, lexical: Ranked, config: FusionConfig | None = None) -> list[tuple[int, float]]:
    """Hybrid ranking from the dense (cosine) and lexical (BM25) lists."""
    config = config or FusionConfig()
    weights = [config.dense_weight, 1.0 - config.dense_weight]
    if config.lexical_depth:
        lexical = lexical[: config.lexical_depth]
    if config.method == "rrf":
        return reciprocal_rank_fusion([dense, lexical], weights, config.rrf_k)
    return convex_fusion([dense, lexical], weights)


def blend_rerank(ranked: Ranked, rerank_scores: np.ndarray, config: FusionConfig | None = None) -> list[tuple[int, float]]:
    """Final order from the retrieval ranking and the cross-encoder's score for each of its hits.

    With rerank_weight 1 the reranker decides alone; below 1 both scores are min-max normalized over
    the candidates and mixed, so a reranker that is only partly reliable refines rather than replaces.
    """
    config = config or FusionConfig()
    scores = np.asarray(rerank_scores, dtype=np.float64)
    if config.rerank_weight < 1.0:
        scores = config.rerank_weight * minmax(scores) + (1 - config.rerank_weight) * minmax([s for _, s in ranked])
    order = np.argsort(-scores, kind="stable")
    return [(ranked[i][0], float(scores[i])) for i in order]
