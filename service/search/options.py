"""What a search may be asked: the modes, the server's limits and defaults, and the errors for requests outside them.

Light on purpose (no numpy, no models): settings, API schemas, the CLI parser and the pipeline all import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SearchMode(StrEnum):
    HYBRID = "hybrid"  # dense + lexical, fused
    DENSE = "dense"  # embedder + vector index
    LEXICAL = "lexical"  # FTS5 BM25

    @property
    def embeds(self) -> bool:
        """Whether the query is embedded (every mode but lexical)."""
        return self is not SearchMode.LEXICAL


MODES = tuple(mode.value for mode in SearchMode)


class InvalidQuery(ValueError):
    """The query or its options cannot be searched; the message says what to change."""


class LimitExceeded(InvalidQuery):
    """A query, top_k or candidates over this server's configured limit."""


class TooManyQueries(InvalidQuery):
    """More queries in one batch than this server takes."""


class SearchCancelled(Exception):
    """The caller went away (an HTTP client that disconnected): the rest of a batch is not searched."""


@dataclass(frozen=True)
class SearchDefaults:
    """What a request that does not say gets (QUARRY_TOP_K, QUARRY_SEARCH_MODE, QUARRY_CANDIDATES)."""

    top_k: int = 10
    mode: SearchMode = SearchMode.HYBRID
    candidates: int = 50


@dataclass(frozen=True)
class SearchLimits:
    """The most a request may ask for; tighter than the API schema's hard bounds when configured so."""

    max_query_chars: int = 4096
    max_top_k: int = 1000
    max_candidates: int = 1000
    max_batch_queries: int = 64
    # the reranker scores at most this many of a query's candidates (the best-fused ones); a cross-encoder
    # pass per candidate is the dearest work a search does
    max_rerank_candidates: int = 100

    def check(self, query: str, top_k: int | None = None, candidates: int | None = None) -> None:
        """Values a caller asked for (None: it did not ask, the server's default applies)."""
        for field, value, limit, env in (
            ("query", len(query), self.max_query_chars, "QUARRY_MAX_QUERY_CHARS"),
            ("top_k", top_k or 0, self.max_top_k, "QUARRY_MAX_TOP_K"),
            ("candidates", candidates or 0, self.max_candidates, "QUARRY_MAX_CANDIDATES"),
        ):
            if value > limit:
                what = f"{value} characters" if field == "query" else str(value)
                raise LimitExceeded(f"{field} is {what}; this server's limit is {limit} ({env})")

    def check_batch(self, queries: list[str]) -> None:
        if len(queries) > self.max_batch_queries:
            raise TooManyQueries(
                f"{len(queries)} queries in one request; the limit is {self.max_batch_queries}"
                " (QUARRY_MAX_BATCH_QUERIES): split the batch"
            )
