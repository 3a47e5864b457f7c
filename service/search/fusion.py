"""Combine ranked lists from the dense and lexical retrievers, and retrieval with reranker scores.

The search pipeline calls `fuse` and `blend_rerank` only, so fusion can be tuned here alone.

Default fusion (`adaptive`): a convex combination of per-query min-max normalized scores over the dense
list and the top 50 BM25 hits (a fixed BM25 depth, so the normalization floor, and the ranking, do not
change with how many hits the caller asks for). The dense share starts at `QUARRY_FUSION_DENSE_WEIGHT`
(0.8), is scaled by how much of the collection and of the query the embedder can read (its languages and
scripts), and then moves with how far each list's top score stands out from the rest (`adaptive_weight`).
`convex` keeps the configured weight for every query; plain RRF (k=60) weighs a BM25 rank like a dense rank
and, on MS MARCO passages where dense retrieval is much stronger, loses to dense alone. Score fusion keeps
how far apart the scores are, so a BM25 hit that stands out (a rare code or identifier) still rises while
BM25's near-ties cannot push good dense hits down. See docs/quality.md for the measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexer.languages import scripts
from models.languages import MULTILINGUAL, covers, embedder_languages, language_scripts, readable_scripts

UNTRUSTED_BELOW = 0.5  # a collection mostly in languages the embedder does not read
# An embedder meets a language it was not trained on but written in its own script (English MiniLM on
# German or Spanish) halfway: its tokenizer still sees real subwords, and names, cognates and code match.
# In another script (Arabic, Cyrillic, Chinese for an English model) its vectors are close to noise.
SAME_SCRIPT_TRUST = 0.5
PEAK_DEPTH = 50  # scores per list that peakedness looks at (the BM25 depth fused by default)
PEAK_SLOPE = 0.5  # logit change per unit of peakedness difference (chosen leave-one-dataset-out, see docs/quality.md)
PEAK_BIAS = -0.5  # dense minus lexical peakedness at which the configured weight stands unchanged

Ranked = Sequence[tuple[int, float]]  # (chunk id, score), best first
METHODS = ("adaptive", "convex", "rrf")


@dataclass(frozen=True)
class CollectionProfile:
    """What fusion knows about a collection before it sees a query."""

    dense_trust: float = 1.0  # share of the collection's text in languages the embedder reads
    readable_scripts: frozenset[str] | None = None  # scripts the embedder reads; None: any
    warning: str = ""  # for people: why dense retrieval cannot be trusted here, and what to do


def collection_profile(languages: dict[str, float], embedder: str, override: str = "") -> CollectionProfile:
    """Compare a collection's languages with its embedder's (models.languages)."""
    read = embedder_languages(embedder, override)
    if read is None or MULTILINGUAL in read or not languages:
        return CollectionProfile(readable_scripts=readable_scripts(read))
    scripts_read = readable_scripts(read) or frozenset()
    covered = trust = 0.0
    for language, share in languages.items():
        if covers(read, language):
            covered += share
            trust += share
        elif set(language_scripts(language)) <= scripts_read and language_scripts(language):
            trust += share * SAME_SCRIPT_TRUST  # shared letters: names, cognates, code and numbers still match
    trust = round(trust, 3)
    warning = ""
    if covered < UNTRUSTED_BELOW:
        unread = ", ".join(f"{language} {share:.0%}" for language, share in languages.items() if not covers(read, language))
        warning = (
            f"dense retrieval cannot be trusted here: the embedder {embedder!r} reads {', '.join(sorted(read))}, "
            f"but this collection is {unread}. Hybrid search leans on lexical (BM25) matches; for meaning-based "
            f"search re-index with a multilingual embedder (QUARRY_EMBEDDER, e.g. "
            f"sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2), or search with mode=lexical"
        )
    return CollectionProfile(trust, scripts_read or None, warning)


@dataclass(frozen=True)
class FusionConfig:
    method: str = "adaptive"  # "adaptive": convex with per-query weights (adaptive_weight); "convex": fixed weight; "rrf"
    dense_weight: float = 0.8  # share of the dense retriever, in [0, 1] (adaptive: before per-query evidence)
    rrf_k: int = 60
    lexical_depth: int = 50  # BM25 hits fused; 0 = all. Keeps min-max independent of how deep the caller asks
    rerank_weight: float = 1.0  # share of the reranker in the final score; 1.0 = order by the reranker alone
    embedder_languages: str = ""  # QUARRY_EMBEDDER_LANGUAGES: overrides what models.languages knows

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


def profile_for(collection, config: FusionConfig | None = None) -> CollectionProfile:
    """A collection's profile with the embedder it was built with (the one its queries are embedded by)."""
    override = config.embedder_languages if config is not None else ""
    return collection_profile(collection.languages(), collection.manifest.embedder, override)


def readable_share(query: str, readable: frozenset[str] | None) -> float:
    """Share of the query's letters in scripts the embedder reads (1 without letters: codes, numbers)."""
    if readable is None:
        return 1.0
    counts = scripts(query)
    total = sum(counts.values())
    return 1.0 if total == 0 else sum(n for script, n in counts.items() if script in readable) / total


def peakedness(ranked: Ranked, depth: int = PEAK_DEPTH) -> float | None:
    """How far the top score stands above the rest of the list, in standard deviations (a WIG/NQC-style
    query performance predictor: a retriever that found something specific puts it well above the
    crowd; one that found nothing in particular returns a flat list). None for lists too short to tell."""
    scores = np.asarray([score for _, score in ranked[:depth]], dtype=np.float64)
    if scores.size < 3:
        return None
    spread = scores.std()
    if spread <= 1e-12:
        return 0.0
    return float((scores[0] - scores.mean()) / spread)


def adaptive_weight(
    dense: Ranked, lexical: Ranked, query: str, profile: CollectionProfile, config: FusionConfig,
    slope: float = PEAK_SLOPE, bias: float = PEAK_BIAS,
) -> float:  # fmt: skip
    """The dense share for this query.

    Start from the configured weight, scaled by how much of the collection and of the query the
    embedder can read; then, in logit space, move it by the difference of the two lists' peakedness
    (minus `bias`, the difference a typical query shows, since BM25 lists are peakier than cosine ones).
    """
    prior = config.dense_weight * profile.dense_trust * readable_share(query, profile.readable_scripts)
    if prior <= 0.0 or prior >= 1.0:
        return float(min(max(prior, 0.0), 1.0))
    peak_dense, peak_lexical = peakedness(dense), peakedness(lexical)
    if peak_dense is None or peak_lexical is None or slope == 0.0:
        return prior
    logit = math.log(prior / (1.0 - prior)) + slope * (peak_dense - peak_lexical - bias)
    return 1.0 / (1.0 + math.exp(-max(min(logit, 30.0), -30.0)))


def fuse(
    dense: Ranked, lexical: Ranked, config: FusionConfig | None = None, *, query: str = "", profile: CollectionProfile | None = None
) -> list[tuple[int, float]]:
    """Hybrid ranking from the dense (cosine) and lexical (BM25) lists."""
    config = config or FusionConfig()
    if config.lexical_depth:
        lexical = lexical[: config.lexical_depth]
    weight = config.dense_weight
    if config.method == "adaptive":
        weight = adaptive_weight(dense, lexical, query, profile or CollectionProfile(), config)
    weights = [weight, 1.0 - weight]
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
