"""The unit of indexing: one document with an id, its text and where it came from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Document:
    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    # "markdown" keeps heading structure for the chunker; anything else is plain prose.
    format: str = "text"

    def content_hash(self) -> str:
        """Same hash = same chunks and vectors, so an unchanged document costs no work."""
        payload = json.dumps(
            [self.text, self.title, self.source, self.metadata, self.format], sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class Chunk:
    doc_id: str
    ordinal: int
    text: str
    start: int  # character offsets into the document text
    end: int
    heading_path: list[str] = field(default_factory=list)

    def embedding_text(self, title: str = "") -> str:
        """What the embedder sees: the chunk with its title and headings for context."""
        context = [part for part in [title, *self.heading_path] if part]
        # avoid repeating a title that the first heading already says
        deduped: list[str] = []
        for part in context:
            if not deduped or deduped[-1].strip().lower() != part.strip().lower():
                deduped.append(part)
        if not deduped:
            return self.text
        return " > ".join(deduped) + "\n" + self.text
