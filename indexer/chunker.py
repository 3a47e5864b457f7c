"""Token-aware chunking that respects Markdown headings, paragraphs and sentences.

Sizes are counted in the embedder's own tokens, so a chunk never silently overflows the model.
Cuts prefer, in order: a paragraph break, a sentence end or line break, a word boundary. Chunks that
end on a paragraph break need no overlap; chunks cut inside a paragraph overlap the next by
`overlap` tokens so no sentence is only ever seen cut in half.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from indexer.documents import Chunk, Document

_HEADING_LINE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)[^\n]*\n.*?(?:^[ \t]{0,3}\1[ \t]*$|\Z)", re.M | re.S)
_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]*$")

PARAGRAPH, SENTENCE, WORD, INSIDE_WORD = 3, 2, 1, 0


@dataclass(frozen=True)
class ChunkerSettings:
    chunk_size: int = 200
    overlap: int = 32

    def validate(self, max_seq_length: int | None = None) -> None:
        if self.chunk_size < 8:
            raise ValueError(f"chunk size {self.chunk_size} is too small: use at least 8 tokens")
        if not 0 <= self.overlap < self.chunk_size // 2:
            raise ValueError(
                f"chunk overlap {self.overlap} must be between 0 and half the chunk size ({self.chunk_size // 2})"
            )
        if max_seq_length and self.chunk_size > max_seq_length - 2:
            raise ValueError(
                f"chunk size {self.chunk_size} exceeds what the embedder reads "
                f"({max_seq_length} tokens including 2 special tokens); use at most {max_seq_length - 2}"
            )


@dataclass
class _Section:
    start: int
    end: int
    heading_path: list[str]


def split_sections(text: str, markdown: bool) -> list[_Section]:
    """Markdown: one section per heading, with its heading path; otherwise the whole text."""
    if not markdown:
        return [_Section(0, len(text), [])]
    sections: list[_Section] = []
    stack: list[tuple[int, str]] = []
    position, path = 0, []
    fences = [m.span() for m in _FENCE.finditer(text)] if "```" in text or "~~~" in text else []
    for match in _HEADING_LINE.finditer(text):
        if any(a <= match.start() < b for a, b in fences):
            continue  # a '# comment' inside a fenced code block is not a heading
        if match.start() > position:
            sections.append(_Section(position, match.start(), list(path)))
        level, title = len(match.group(1)), match.group(2).strip()
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        path = [t for _, t in stack]
        position = match.end()
    sections.append(_Section(position, len(text), list(path)))
    return sections


class Chunker:
    def __init__(self, tokenizer, settings: ChunkerSettings | None = None):
        self.tokenizer = tokenizer
        self.settings = settings or ChunkerSettings()
        self._rust = _untruncated_rust_tokenizer(tokenizer)

    def _token_spans_many(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        """Character spans of each text's tokens; one batched call into the Rust tokenizer when there is one."""
        if self._rust is not None:
            return [[(a, b) for a, b in e.offsets if b > a] for e in self._rust.encode_batch(texts, add_special_tokens=False)]
        # slow tokenizers give no offsets: fall back to words, which over-count rather than overflow
        return [[m.span() for m in re.finditer(r"\w+|[^\w\s]", text)] for text in texts]

    @staticmethod
    def _break_strengths(text: str, spans: list[tuple[int, int]]) -> list[int]:
        """strength[j]: how good a cut is between token j and j+1."""
        strengths = []
        for j in range(len(spans) - 1):
            gap = text[spans[j][1] : spans[j + 1][0]]
            if not gap:
                strengths.append(INSIDE_WORD)
            elif gap.count("\n") >= 2:
                strengths.append(PARAGRAPH)
            elif "\n" in gap or _SENTENCE_END.search(text[spans[j][0] : spans[j][1]]):
                strengths.append(SENTENCE)
            else:
                strengths.append(WORD)
        strengths.append(PARAGRAPH)  # the end of the section
        return strengths

    def _windows(self, strengths: list[int]) -> list[tuple[int, int]]:
        size, overlap = self.settings.chunk_size, self.settings.overlap
        n, start, windows = len(strengths), 0, []
        while start < n:
            limit = start + size
            if limit >= n:
                end = n
            else:
                floor = start + size // 2
                end = limit  # a hard cut at the limit when no boundary is found
                for wanted in (PARAGRAPH, SENTENCE, WORD):
                    candidates = [j for j in range(limit - 1, floor - 1, -1) if strengths[j] >= wanted]
                    if candidates:
                        end = candidates[0] + 1
                        break
            windows.append((start, end))
            if end >= n:
                break
            if strengths[end - 1] == PARAGRAPH or overlap == 0:
                start = end
            else:
                start = max(end - overlap, start + 1)
                while start < end and strengths[start - 1] == INSIDE_WORD:
                    start += 1
        return windows

    def chunk(self, document: Document) -> list[Chunk]:
        return self.chunk_many([document])[0]

    def chunk_many(self, documents: list[Document]) -> list[list[Chunk]]:
        """Each document's chunks; all sections of all documents are tokenized in one batch."""
        sections = [
            (d, section)
            for d, document in enumerate(documents)
            for section in split_sections(document.text, document.format == "markdown")
        ]
        bodies = [documents[d].text[section.start : section.end] for d, section in sections]
        out: list[list[Chunk]] = [[] for _ in documents]
        for (d, section), body_spans in zip(sections, self._token_spans_many(bodies)):
            if not body_spans:
                continue
            document, chunks = documents[d], out[d]
            text = document.text
            spans = [(section.start + a, section.start + b) for a, b in body_spans]
            if len(spans) <= self.settings.chunk_size:  # fits in one chunk: no cut to choose
                windows = [(0, len(spans))]
            else:
                windows = self._windows(self._break_strengths(text, spans))
            for first, last in windows:
                start, end = spans[first][0], spans[last - 1][1]
                chunks.append(Chunk(document.doc_id, len(chunks), text[start:end], start, end, section.heading_path))
        for document, chunks in zip(documents, out):
            text = document.text
            if not chunks and text.strip():  # e.g. a Markdown file that is only headings
                stripped = text.strip()
                start = text.index(stripped)
                chunks.append(Chunk(document.doc_id, 0, stripped, start, start + len(stripped), []))
        return out


_RUST_COPIES: dict[int, tuple[object, object]] = {}  # id(backend) -> (backend, copy); models live for the process
_RUST_COPIES_LOCK = threading.Lock()


def _untruncated_rust_tokenizer(tokenizer):
    """A private copy of a fast tokenizer's Rust backend with no truncation or padding, or None.

    A copy, because the transformers wrapper changes its backend's truncation on every call (an embedder
    call leaves it truncating at 256 tokens), and a truncated text would lose its tail from the chunks.
    Made once per tokenizer (a copy costs ~25 ms, and the API builds a Chunker per upsert); the copy is
    never reconfigured, so threads can share it.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    if backend is None:
        return None
    with _RUST_COPIES_LOCK:
        cached = _RUST_COPIES.get(id(backend))
        if cached is not None and cached[0] is backend:
            return cached[1]
        from tokenizers import Tokenizer

        for attempt in range(5):
            try:  # the wrapper may hold its backend mutably borrowed for a moment in another thread
                copy = Tokenizer.from_str(backend.to_str())
                break
            except RuntimeError:
                if attempt == 4:
                    raise
                time.sleep(0.01)
        copy.no_truncation()
        copy.no_padding()
        _RUST_COPIES[id(backend)] = (backend, copy)
        return copy
