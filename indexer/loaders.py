"""Compatibility names: the loaders live in indexer.formats and file discovery in indexer.sources."""

from indexer.errors import LoadError
from indexer.formats import (
    SUPPORTED_EXTENSIONS, Loaded, Source, decode_text, html_to_markdown_text, is_supported, json_lines, load_file,
    load_source,
)  # fmt: skip
from indexer.formats.text import load_jsonl as _load_jsonl
from indexer.sources import SourceFile, discover, stable_id

__all__ = [
    "SUPPORTED_EXTENSIONS", "LoadError", "Loaded", "Source", "SourceFile", "decode_text", "discover",
    "html_to_markdown_text", "is_supported", "json_lines", "load_file", "load_jsonl", "load_source", "stable_id",
]  # fmt: skip


def load_jsonl(path, doc_id: str | None = None) -> Loaded:
    """A BEIR corpus.jsonl from a path (record ids come from the file, so doc_id is unused)."""
    from pathlib import Path

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return _load_jsonl(Source(str(path), doc_id or path.name, data))
