"""Full-text tokens for scripts written without spaces (Chinese, Japanese, Thai, Lao, Khmer, Myanmar).

FTS5's unicode61 tokenizer splits on spaces and punctuation, so "列出目录内容" is one token and no
query that is not exactly that run can match it. Here such runs are spelled out one character (with
its combining marks) per token for the index, and a query run becomes phrases of adjacent character
pairs: the bigram matching CJK search engines have long used, with BM25 statistics per bigram.
Text in other scripts passes through unchanged, so Latin-script collections index exactly as before.
"""

from __future__ import annotations

import re
import unicodedata

SEGMENTER = "chars-v1"  # recorded in a store's meta table; a store without it holds unsegmented text

_RANGES = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\u31f0-\u31ff\uff66-\uff9f"  # Katakana extensions, half-width
    "\U00020000-\U0002ebef"  # CJK extensions B-F
)
_RUN = re.compile(f"[{_RANGES}]+")


def _units(run: str) -> list[str]:
    """Characters of a run, each with the combining marks that follow it (Thai vowels and tones)."""
    units: list[str] = []
    for ch in run:
        if units and unicodedata.category(ch) in ("Mn", "Mc"):
            units[-1] += ch
        else:
            units.append(ch)
    return units


def has_unspaced(text: str) -> bool:
    return _RUN.search(text) is not None


def index_text(text: str) -> str:
    """The text FTS5 indexes: unspaced runs split into one token per character."""
    if not has_unspaced(text):
        return text
    return _RUN.sub(lambda m: " " + " ".join(_units(m.group())) + " ", text)


def query_terms(text: str) -> list[str]:
    """Search terms for a query: words as they are, unspaced runs as overlapping character pairs
    (phrases of two tokens once indexed), a lone character as itself."""
    terms: list[str] = []
    position = 0
    for match in _RUN.finditer(text):
        terms += re.findall(r"\w+", text[position : match.start()])
        units = _units(match.group())
        terms += [" ".join(units[i : i + 2]) for i in range(max(len(units) - 1, 1))]
        position = match.end()
    terms += re.findall(r"\w+", text[position:])
    return terms
