"""Texts some embedders expect before a query or a document, from their model cards.

Instruction-tuned embedders were trained with these markers; without them a query lands in the
wrong region of the space and retrieval quietly gets worse. A collection records the pair it was
embedded with (its manifest), so its queries are always embedded the same way.
"""

from __future__ import annotations

import re

_BGE_QUERY = "Represent this sentence for searching relevant passages: "

# (pattern on the model name, query prefix, document prefix); first match wins
_KNOWN: tuple[tuple[str, str, str], ...] = (
    (r"(^|/)(multilingual-)?e5-", "query: ", "passage: "),
    (r"arctic-embed-(l|m)-v2", "query: ", ""),
    (r"nomic-embed-text", "search_query: ", "search_document: "),
    (r"bge-(small|base|large)-(en|zh)|snowflake-arctic-embed|arctic-embed|mxbai-embed-large", _BGE_QUERY, ""),
)


def known_prefixes(reference: str) -> tuple[str, str]:
    """(query prefix, document prefix) the model's card asks for; ("", "") for models that want none."""
    name = reference.strip().rstrip("/").lower()
    for pattern, query, document in _KNOWN:
        if re.search(pattern, name):
            return query, document
    return "", ""
