"""Combine ranked lists from the dense and lexical retrievers, and retrieval with reranker scores.

The search pipeline calls `fuse` and `blend_rerank` only, so fusion can be tuned here alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Ranked = Sequence[tuple[int, float]]  # (chunk id, score), best first


def reciprocal_rank_fusion(lists: Sequence[Ranked], weights: Sequence[float] | None = None, k: int = 60) -> list[tuple[int, float]]:
    """Weighted RRF: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1."""
    weights = weights or [1.0] * len(lists)
    fused: dict[int, float] = {}
    for ranked, weight in zip(lists, weights):
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def fuse(dense: Ranked, lexical: Ranked) -> list[tuple[int, float]]:
    """Hybrid ranking from the dense (cosine) and lexical (BM25) lists."""
    return reciprocal_rank_fusion([dense, lexical])


def blend_rerank(ranked: Ranked, rerank_scores: np.ndarray) -> list[tuple[int, float]]:
    """Final order from the retrieval ranking and the cross-encoder's score for each of its hits."""
    order = np.argsort(-np.asarray(rerank_scores), kind="stable")
    return [(ranked[i][0], float(rerank_scores[i])) for i in order]
