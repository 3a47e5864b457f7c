"""Turn files into Documents: one loader per format, chosen by extension (or by sniffing when there is none).

Loaders raise LoadError with a user-facing reason; the batch job prints it as one warning as it happens,
counts the file as skipped and indexes the rest. Parsers of untrusted files can raise anything, so
load_source turns any other exception from a loader into a LoadError naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from indexer.errors import LoadError
from indexer.formats.base import Loaded, Source, decode_text, looks_like_text
from indexer.formats.compressed import load_gzip
from indexer.formats.mail import load_eml, load_mbox
from indexer.formats.ocr import IMAGE_EXTENSIONS, load_image, ocr_config
from indexer.formats.office import load_csv, load_docx, load_epub, load_odt, load_pptx, load_xlsx
from indexer.formats.pdf import load_pdf
from indexer.formats.text import (
    CODE_LANGUAGES, html_to_markdown_text, json_lines, load_code, load_html, load_jsonl, load_markdown,
    load_notebook, load_rst, load_text, load_untyped,
)  # fmt: skip

LOADERS: dict[str, Callable[[Source], Loaded]] = {
    ".txt": load_text, ".text": load_text,
    ".md": load_markdown, ".markdown": load_markdown,
    ".html": load_html, ".htm": load_html, ".xhtml": load_html,
    ".pdf": load_pdf,
    ".jsonl": load_jsonl,
    ".rst": load_rst,
    ".ipynb": load_notebook,
    ".docx": load_docx, ".pptx": load_pptx, ".xlsx": load_xlsx, ".odt": load_odt, ".epub": load_epub,
    ".csv": load_csv, ".tsv": load_csv,
    # containers load their members through load_source (defined below, looked up when called)
    ".eml": lambda source: load_eml(source, load_source), ".mbox": lambda source: load_mbox(source, load_source),
    ".gz": lambda source: load_gzip(source, _load_member),
    **{ext: load_code for ext in CODE_LANGUAGES},
    **{ext: load_image for ext in IMAGE_EXTENSIONS},  # only with OCR on (is_supported)
}  # fmt: skip
SUPPORTED_EXTENSIONS = frozenset(LOADERS)

__all__ = [
    "LOADERS", "SUPPORTED_EXTENSIONS", "Loaded", "Source", "decode_text", "html_to_markdown_text", "is_supported",
    "json_lines", "load_file", "load_source", "looks_like_text",
]  # fmt: skip


# README.Debian, NEWS.md~, CHANGES.old: named like documentation whatever follows the dot (sniffed on load)
_DOC_NAMES = ("readme", "news", "changes", "changelog", "todo", "bugs", "install", "faq", "copying", "license", "authors")


def _untyped(name: str) -> bool:
    base = Path(name.rsplit("#", 1)[-1]).name.lower()
    return "." not in base.lstrip(".") or base.split(".", 1)[0] in _DOC_NAMES


def is_supported(path: Path) -> bool:
    """Whether a file found in a folder is worth loading: a known extension (images only with OCR on), or none
    (sniffed on load)."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return ocr_config().active
    return suffix in LOADERS or _untyped(path.name)


def load_source(source: Source) -> Loaded:
    loader = LOADERS.get(source.suffix)
    if source.suffix in IMAGE_EXTENSIONS and not ocr_config().active:
        reason = ocr_config().problem or "QUARRY_OCR=auto reads images"
        raise LoadError(f"{source.name}: unsupported file type {source.suffix!r} ({reason})")
    if loader is None:
        if not _untyped(source.name):
            raise LoadError(
                f"{source.name}: unsupported file type {source.suffix!r}; supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))}"
            )
        loader = load_untyped
    try:
        return loader(source)
    except LoadError:
        raise
    except RecursionError as exc:
        raise LoadError(f"{source.name}: nested too deeply to read") from exc
    except Exception as exc:  # noqa: BLE001 - a corrupt file must cost one warning, never the job
        raise LoadError(f"{source.name}: could not read this {source.suffix or 'file'} ({type(exc).__name__}: {exc})") from exc


def _load_member(source: Source) -> Loaded | None:
    """A compressed file's member by its own format; None when no loader has its extension."""
    return load_source(source) if source.suffix in LOADERS else None


def load_file(path: Path, doc_id: str) -> Loaded:
    if not is_supported(path):
        load_source(Source(str(path), doc_id, b""))  # raises the unsupported-type error without reading
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return load_source(Source(str(path), doc_id, data))
