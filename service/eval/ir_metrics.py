"""Ranking metrics as pure functions, computed the way trec_eval (and so BEIR) computes them.

`ranking` is a list of document ids, best first; `judged` maps document ids to graded relevance.
A grade above zero is relevant. nDCG uses linear gains (the grade) and log2(rank + 1) discounts,
with the ideal ranking built from all judged documents, retrieved or not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    ideal = dcg(sorted((g for g in judged.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([max(judged.get(d, 0), 0) for d in ranking[:k]]) / ideal


def recall_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    for rank, d in enumerate(ranking[:k], start=1):
        if judged.get(d, 0) > 0:
            return 1.0 / rank
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def query_metrics(ranking: Sequence[str], judged: Mapping[str, int]) -> dict[str, float]:
    return {
        "ndcg@10": ndcg_at_k(ranking, judged, 10),
        "recall@10": recall_at_k(ranking, judged, 10),
        "recall@100": recall_at_k(ranking, judged, 100),
        "mrr@10": mrr_at_k(ranking, judged, 10),
    }


def mean_metrics(per_query: Sequence[Mapping[str, float]]) -> dict[str, float]:
    if not per_query:
        return {}
    return {key: sum(m[key] for m in per_query) / len(per_query) for key in per_query[0]}


def dedupe(ids: Sequence[str]) -> list[str]:
    """Chunk hits -> document ranking: a document ranks where its best chunk does."""
    return list(dict.fromkeys(ids))
