"""The unit of indexing: one document with an id, its text and where it came from."""

from __future__ import annotations

import bisect
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


# document metadata listing where each page (or slide) starts in the text, and the key a chunk's page gets
LOCATORS = {"page_starts": "page", "slide_starts": "slide"}


def chunk_metadata(metadata: dict, start: int) -> dict:
    """A chunk's view of its document's metadata: the page (or slide) it starts on instead of the offset lists.

    Pages are kept as offsets in the document rather than per chunk, so collections built before pages
    were recorded read the same way (they simply have no page) and no chunk table changes.
    """
    if not any(key in metadata for key in LOCATORS):
        return metadata
    out = {k: v for k, v in metadata.items() if k not in LOCATORS}
    for key, name in LOCATORS.items():
        starts = metadata.get(key)
        if isinstance(starts, list) and starts:
            out[name] = max(bisect.bisect_right(starts, start), 1)
    return out


MAX_DOC_ID_LENGTH = 1024  # room for deep relative file paths; ids are keys, never file names


def validate_doc_id(doc_id: object) -> str:
    """The one place document ids are checked: non-empty text, bounded, no control characters."""
    from indexer.errors import InvalidDocumentId

    if not isinstance(doc_id, str) or not doc_id.strip():
        raise InvalidDocumentId(f"invalid document id {doc_id!r}: it must be a non-empty string")
    if len(doc_id) > MAX_DOC_ID_LENGTH:
        raise InvalidDocumentId(f"document id {doc_id[:40]!r}... is {len(doc_id)} characters; at most {MAX_DOC_ID_LENGTH} are allowed")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in doc_id):
        raise InvalidDocumentId(f"invalid document id {doc_id!r}: control characters are not allowed")
    return doc_id
