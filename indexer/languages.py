"""Which languages a collection is written in, so search can tell when its embedder cannot read them.

Documents are identified with py3langid (a maintained fork of langid.py: a bundled model, numpy only)
on their first few thousand characters; a collection keeps characters per language, so a share is a
share of text, not of documents. Text without letters (code, numbers) counts for no language.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable

SAMPLE_CHARS = 1000  # enough for a confident guess; a long document costs no more than a short one
MIN_LETTERS = 20  # below this a guess is noise: the text counts for no language

_load_lock = threading.Lock()


def _classify(text: str) -> str:
    with _load_lock:  # the first call loads the bundled model (about a second); later calls only read it
        import py3langid

    return str(py3langid.classify(text)[0])


def letter_count(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when it has too few letters to tell."""
    sample = text[:SAMPLE_CHARS]
    if letter_count(sample) < MIN_LETTERS:
        return None
    return _classify(sample)


def tally(texts: Iterable[str]) -> Counter[str]:
    """Characters of text per detected language."""
    counts: Counter[str] = Counter()
    for text in texts:
        language = detect_language(text)
        if language is not None:
            counts[language] += len(text)
    return counts


def shares(counts: dict[str, int], digits: int = 3) -> dict[str, float]:
    """Characters per language -> shares of the whole, largest first (languages under 0.5% dropped)."""
    total = sum(counts.values())
    if total <= 0:
        return {}
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {lang: round(n / total, digits) for lang, n in ordered if n / total >= 0.005}


# scripts -----------------------------------------------------------------------------------------
# Unicode character names start with the script for the letters that matter here ("LATIN SMALL
# LETTER A", "CJK UNIFIED IDEOGRAPH-4E00", "HIRAGANA LETTER A"); the first word is the script.
_SCRIPT_ALIASES = {"CJK": "Han", "HIRAGANA": "Kana", "KATAKANA": "Kana", "HALFWIDTH": "Kana", "HANGUL": "Hangul"}


def script_of(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    if ch.isascii():
        return "Latin"
    name = unicodedata.name(ch, "")
    if not name:
        return None
    first = name.split(" ", 1)[0]
    return _SCRIPT_ALIASES.get(first, first.capitalize())


def scripts(text: str) -> Counter[str]:
    """Letters per script in a text ({'Latin': 12, 'Cyrillic': 3})."""
    return Counter(s for ch in text if (s := script_of(ch)) is not None)
