"""A ready-to-paste context block for an LLM prompt: the most relevant passages that fit a token budget,
numbered so the model can cite them, each number tied to a document, title, source and character offsets.

Tokens are counted with the embedder's tokenizer: it is the one tokenizer the server always has, and
LLM tokenizers count within a small factor of it. When no passage clears the score threshold the block is
empty and `no_relevant_context` is true, so a frontend can answer "I don't know" instead of inventing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.search.relevance import ScoredHit

SEPARATOR = "\n\n"


@dataclass
class Citation:
    n: int
    doc_id: str
    chunk_id: int
    title: str
    source: str
    start: int
    end: int
    score: float
    heading_path: list[str] = field(default_factory=list)
    truncated: bool = False
    page: int | None = None  # PDF page the passage starts on
    slide: int | None = None  # slide number, for presentations


@dataclass
class ContextBlock:
    context: str
    citations: list[Citation]
    tokens: int
    no_relevant_context: bool
    candidates: int  # passages that cleared the threshold (some may not have fitted)


class TokenCounter:
    """Counts and cuts text by the tokens of a Hugging Face tokenizer (no special tokens)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def cut(self, text: str, tokens: int) -> str:
        """The longest prefix of `text` holding at most `tokens` tokens."""
        if tokens <= 0:
            return ""
        enc = self.tokenizer(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if len(offsets) <= tokens:
            return text
        return text[: offsets[tokens - 1][1]].rstrip()


def _locator(hit) -> str:
    metadata = getattr(hit, "metadata", None) or {}
    return "".join(f", {name} {metadata[key]}" for key, name in (("page", "p."), ("slide", "slide")) if key in metadata)


def _header(n: int, hit) -> str:
    label = hit.title or hit.doc_id
    where = f" ({hit.source}{_locator(hit)})" if hit.source and hit.source != label else (f" ({_locator(hit)[2:]})" if _locator(hit) else "")
    heading = " > ".join(hit.heading_path)
    return f"[{n}] {label}{where}" + (f" # {heading}" if heading else "")


def build_context(hits: list[ScoredHit], counter: TokenCounter, max_tokens: int) -> ContextBlock:
    """Pack passages best first; one that does not fit is skipped for a smaller one after it. If even the
    best passage alone is over budget, it is cut to fit (marked truncated) rather than returning nothing."""
    if not hits:
        return ContextBlock("", [], 0, True, 0)
    parts: list[str] = []
    citations: list[Citation] = []
    used = 0
    sep_tokens = counter.count(SEPARATOR.join(["a", "a"])) - counter.count("a") * 2
    for scored in hits:
        hit = scored.hit
        n = len(citations) + 1
        header = _header(n, hit)
        entry = f"{header}\n{hit.text.strip()}"
        cost = counter.count(entry) + (sep_tokens if parts else 0)
        truncated = False
        end = hit.end
        if used + cost > max_tokens:
            if citations:
                continue
            room = max_tokens - counter.count(header + "\n")
            text = counter.cut(hit.text.strip(), room)
            if not text:
                continue
            entry, truncated = f"{header}\n{text}", True
            end = min(hit.end, hit.start + len(text))
            cost = counter.count(entry)
        parts.append(entry)
        used += cost
        citations.append(
            Citation(n, hit.doc_id, hit.chunk_id, hit.title, hit.source, hit.start, end, scored.relevance,
                     list(hit.heading_path), truncated, (hit.metadata or {}).get("page"), (hit.metadata or {}).get("slide"))
        )  # fmt: skip
    context = SEPARATOR.join(parts)
    return ContextBlock(context, citations, counter.count(context) if context else 0, not citations, len(hits))
