"""One configured search service for every entrance: the API routes, the context and OpenAI routes, MCP,
the CLI and `quarry eval`.

Configuration is bound once (embedder, reranker and why there is none, fusion, defaults, limits, metrics
observers); a call passes only what one request asks (Haystack's components take their configuration in
`__init__` and per-call overrides in `run`). Because every entrance calls this class, each gets the same
limits and records the same per-stage timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np

from indexer.collection import Collection
from models.protocols import PairScorer, TextEncoder
from service.search.fusion import FusionConfig
from service.search.options import SearchCancelled, SearchDefaults, SearchLimits, SearchMode
from service.search.pipeline import SearchResult, search, validate_query
from service.search.relevance import RelevantResult, with_relevance

Observer = Callable[[dict[str, float]], None]  # gets each search's timings_ms (e.g. the metrics' stage histograms)


class Searcher:
    def __init__(
        self,
        embedder: TextEncoder,
        reranker: PairScorer | None = None,
        *,
        reranker_note: str = "",
        fusion: FusionConfig | None = None,
        defaults: SearchDefaults | None = None,
        limits: SearchLimits | None = None,
        observers: Iterable[Observer] = (),
    ):
        self.embedder = embedder
        self.reranker = reranker
        self.reranker_note = reranker_note  # why results are not reranked when the reranker is None
        self.fusion = fusion or FusionConfig()
        self.defaults = defaults or SearchDefaults()
        self.limits = limits or SearchLimits()
        self.observers: list[Observer] = list(observers)

    def replace(self, **changes) -> "Searcher":
        """A copy with some of its configuration changed (e.g. fusion=, for a benchmark comparing settings)."""
        unknown = set(changes) - {"embedder", "reranker", "reranker_note", "fusion", "defaults", "limits", "observers"}
        if unknown:
            raise TypeError(f"Searcher has no setting {', '.join(sorted(unknown))}")
        copy = Searcher.__new__(Searcher)
        copy.__dict__.update(self.__dict__, **changes)
        copy.observers = list(copy.observers)
        return copy

    def check(self, query: str, *, top_k: int | None = None, mode: str | None = None, candidates: int | None = None) -> str:
        """The stripped query, or InvalidQuery / LimitExceeded; loads nothing (the CLI calls it before any model)."""
        self.limits.check(query, top_k, candidates)
        return validate_query(query, top_k or self.defaults.top_k, mode or self.defaults.mode, candidates or self.defaults.candidates)

    def search(
        self,
        collection: Collection,
        query: str,
        *,
        top_k: int | None = None,
        mode: str | None = None,
        candidates: int | None = None,
        rerank: bool = True,
        filter=None,
        min_score: float | None = None,
        group_by_document: bool = False,
        query_vector: np.ndarray | None = None,
    ) -> SearchResult:
        """None: the configured default. rerank=False skips the reranker (and says nothing about it)."""
        self.check(query, top_k=top_k, mode=mode, candidates=candidates)
        result = search(
            collection, self.embedder, query,
            top_k=top_k or self.defaults.top_k, mode=mode or self.defaults.mode,
            reranker=self.reranker if rerank else None, rerank=rerank,
            candidates=candidates or self.defaults.candidates, rerank_note=self.reranker_note if rerank else "",
            rerank_depth=self.limits.max_rerank_candidates,
            filter=filter, min_score=min_score, group_by_document=group_by_document,
            query_vector=query_vector, fusion=self.fusion,
        )  # fmt: skip
        for observe in self.observers:
            observe(result.timings_ms)
        return result

    def search_batch(
        self, collection: Collection, queries: list[str], *, cancelled: Callable[[], bool] | None = None, **options
    ) -> tuple[list[SearchResult], dict[str, float]]:
        """Many queries with the same options, embedded in one forward pass; (results, batch timings_ms).
        cancelled: asked before each query; True (the client left) stops with SearchCancelled."""
        self.limits.check_batch(queries)
        for query in queries:
            self.check(query, top_k=options.get("top_k"), mode=options.get("mode"), candidates=options.get("candidates"))
        started = time.perf_counter()
        vectors: list = [None] * len(queries)
        embed_ms = 0.0
        if SearchMode(options.get("mode") or self.defaults.mode).embeds:
            t = time.perf_counter()
            vectors = list(self.embedder.encode([q.strip() for q in queries]))
            embed_ms = (time.perf_counter() - t) * 1000
        results = []
        for q, vector in zip(queries, vectors):
            if cancelled is not None and cancelled():
                raise SearchCancelled(f"the client went away after {len(results)} of {len(queries)} queries")
            results.append(self.search(collection, q, query_vector=vector, **options))
        total = (time.perf_counter() - started) * 1000
        return results, {"embed": round(embed_ms, 3), "total": round(total, 3)}

    def relevant(self, collection: Collection, query: str, *, score_threshold: float = 0.0, **options) -> RelevantResult:
        """search() with every hit given a 0..1 relevance (see service.search.relevance); hits below the threshold dropped."""
        self.check(query, top_k=options.get("top_k"), mode=options.get("mode"), candidates=options.get("candidates"))
        vector = self.embedder.encode([query.strip()])[0]  # the cosine relevance needs it in every mode
        result = self.search(collection, query, query_vector=vector, **options)
        return with_relevance(collection, result, vector, score_threshold)
