"""The unit of indexing: one document with an id, its text and where it came from."""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import unicodedata
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


def normalize_doc_id(doc_id: str) -> str:
    """Ids are keys: NFC, so the composed and decomposed spellings of one name are one document."""
    if isinstance(doc_id, str) and not doc_id.isascii():
        try:
            return unicodedata.normalize("NFC", doc_id)
        except UnicodeError:  # pragma: no cover - normalize works on any str, surrogates included
            return doc_id
    return doc_id


def validate_doc_id(doc_id: object) -> str:
    """The one place document ids are checked: non-empty text, bounded, no control characters.
    Returns the id in NFC (see normalize_doc_id)."""
    from indexer.errors import InvalidDocumentId

    if isinstance(doc_id, str):
        doc_id = normalize_doc_id(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise InvalidDocumentId(f"invalid document id {doc_id!r}: it must be a non-empty string")
    if len(doc_id) > MAX_DOC_ID_LENGTH:
        raise InvalidDocumentId(f"document id {doc_id[:40]!r}... is {len(doc_id)} characters; at most {MAX_DOC_ID_LENGTH} are allowed")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in doc_id):
        raise InvalidDocumentId(f"invalid document id {doc_id!r}: control characters are not allowed")
    if lone_surrogate(doc_id):
        raise InvalidDocumentId(f"invalid document id {doc_id!r}: it holds a lone UTF-16 surrogate, which is not text")
    return doc_id


# Metadata is stored as JSON text that SQLite's JSON functions must parse for every filtered search, and
# returned with every hit: anything they cannot take (NaN, Infinity, integers past 64 bits, deep nesting)
# is refused when written, never discovered by a search.
MAX_METADATA_DEPTH = 16
MAX_METADATA_BYTES = 65_536
INT64 = (-(2**63), 2**63 - 1)


def lone_surrogate(text: str) -> bool:
    """True when `text` holds a UTF-16 surrogate that is not text (JSON "\\ud800" decodes to one)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_json_value(value: Any, where: str, depth: int = 0, max_depth: int = MAX_METADATA_DEPTH) -> None:
    """Raise ValueError naming `where` for anything JSON-in-SQLite cannot hold faithfully."""
    if depth > max_depth:
        raise ValueError(f"{where}: nested more than {max_depth} levels deep")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} is not a finite number (JSON has no NaN or Infinity)")
    elif isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise ValueError(f"{where}: integer {value} does not fit in 64 bits")
    elif isinstance(value, str):
        if lone_surrogate(value):
            raise ValueError(f"{where}: holds a lone UTF-16 surrogate, which is not text")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or lone_surrogate(key):
                raise ValueError(f"{where}: key {key!r} is not a valid text key")
            check_json_value(item, f"{where}.{key}", depth + 1, max_depth)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_json_value(item, f"{where}[{i}]", depth + 1, max_depth)
    else:
        raise ValueError(f"{where}: {type(value).__name__} is not a JSON value")


def check_metadata(metadata: Any, where: str = "metadata") -> dict:
    """Metadata a filter and a response can always read back: a JSON object of finite values, bounded."""
    if not isinstance(metadata, dict):
        raise ValueError(f"{where}: expected a JSON object")
    check_json_value(metadata, where)
    size = len(json.dumps(metadata, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"{where}: {size} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed")
    return metadata


def validate_document(doc: "Document") -> "Document":
    """Every write path (API, MCP, jobs, `quarry index`) passes here: the id normalized, the rest checked.
    Raises InvalidDocumentId or InvalidDocument (whose message and `field` name the part at fault)."""
    from indexer.errors import InvalidDocument

    doc.doc_id = validate_doc_id(doc.doc_id)
    for name in ("text", "title", "source"):
        value = getattr(doc, name)
        if not isinstance(value, str) or lone_surrogate(value):
            raise InvalidDocument(f"document {doc.doc_id!r}: {name} is not valid text (a lone UTF-16 surrogate?)", name)
    try:
        check_metadata(doc.metadata)
    except ValueError as exc:
        raise InvalidDocument(f"document {doc.doc_id!r}: {exc}", str(exc).split(":", 1)[0]) from None
    return doc
