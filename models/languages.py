"""Which languages an embedder was trained to read, from what its model card says.

An English-only sentence embedder still returns a vector for Arabic or Chinese text, but the vector
carries no meaning (its tokenizer sees unknown pieces), so dense retrieval over such a collection is
noise. Search asks this module whether to trust the dense retriever for a collection's languages;
`QUARRY_EMBEDDER_LANGUAGES` overrides the table for models it does not know.
"""

from __future__ import annotations

import re

MULTILINGUAL = "*"

# (pattern on the model name, languages); first match wins. From the models' cards.
_KNOWN: tuple[tuple[str, str], ...] = (
    (r"multilingual|labse|bge-m3|paraphrase-xlm|xlm-r|mcontriever|jina-embeddings-v3|nomic-embed-text-v2"
     r"|arctic-embed-(l|m)-v2|gte-multilingual|qwen3-embedding|mxbai-embed-de|sentence-camembert", MULTILINGUAL),
    (r"all-minilm|all-mpnet|all-distilroberta|multi-qa-|msmarco-|paraphrase-minilm|paraphrase-mpnet|bge-(small|base|large)-en"
     r"|(^|/)e5-(small|base|large)|gte-(small|base|large)|nomic-embed-text-v1|snowflake-arctic-embed|arctic-embed"
     r"|mxbai-embed-large|gtr-t5|sentence-t5|contriever", "en"),
)


def parse_languages(value: str) -> frozenset[str] | None:
    """'en,de' -> {'en', 'de'}; '*' -> {'*'} (any); '' -> None (not set)."""
    items = {part.strip().lower() for part in value.split(",") if part.strip()}
    return frozenset(items) or None


def embedder_languages(reference: str, override: str = "") -> frozenset[str] | None:
    """The languages a model reads ({'*'} for multilingual models), or None when unknown."""
    if override.strip():
        return parse_languages(override)
    name = reference.strip().rstrip("/").lower()
    for pattern, languages in _KNOWN:
        if re.search(pattern, name):
            return parse_languages(languages)
    return None


def covers(languages: frozenset[str] | None, language: str) -> bool:
    """Unknown coverage counts as covered: quarry warns about what it knows, not what it guesses."""
    return languages is None or MULTILINGUAL in languages or language in languages


# The scripts each language is written in, for telling whether a query is readable at all.
_SCRIPTS = {
    **dict.fromkeys("af ca cs cy da de en eo es et eu fi fr ga gl hr hu id is it lt lv ms mt nl no pl pt ro sk sl sq sv sw tl tr vi".split(), ("Latin",)),
    **dict.fromkeys("be bg kk ky mk mn ru sr uk".split(), ("Cyrillic",)),
    **dict.fromkeys("ar fa ps ug ur".split(), ("Arabic",)),
    "el": ("Greek",), "he": ("Hebrew",), "hy": ("Armenian",), "ka": ("Georgian",), "th": ("Thai",),
    "zh": ("Han",), "ja": ("Han", "Kana"), "ko": ("Hangul", "Han"),
    **dict.fromkeys("hi mr ne".split(), ("Devanagari",)),
}


def language_scripts(language: str) -> tuple[str, ...]:
    """The scripts a language is written in (() when this table does not know it)."""
    return _SCRIPTS.get(language, ())


def readable_scripts(languages: frozenset[str] | None) -> frozenset[str] | None:
    """Scripts a model reading these languages can read (None: any). Latin is always in: identifiers,
    code and borrowed words are Latin in most text."""
    if languages is None or MULTILINGUAL in languages:
        return None
    scripts = {"Latin"}
    for language in languages:
        scripts.update(_SCRIPTS.get(language, ()))
    return frozenset(scripts)
