"""Combine ranked lists from the dense and lexical retrievers into one ranking."""

from __future__ import annotations

from collections.abc import Sequence

Ranked = Sequence[tuple[int, float]]  # (chunk id, score), best first


def reciprocal_rank_fusion(lists: Sequence[Ranked], weights: Sequence[float] | None = None, k: int = 60) -> list[tuple[int, float]]:
    """Weighted RRF: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1."""
    weights = weights or [1.0] * len(lists)
    fused: dict[int, float] = {}
    for ranked, weight in zip(lists, weights):
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
