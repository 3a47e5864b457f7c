"""Turn files into Documents: plain text, Markdown, HTML, PDF and BEIR-style corpus.jsonl.

Each loader raises LoadError with a user-facing reason; the batch job skips such files with a
warning and indexes the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from indexer.documents import Document
from indexer.errors import LoadError

TEXT_EXTENSIONS = {".txt", ".text"}
MARKDOWN_EXTENSIONS = {".md", ".markdown"}
HTML_EXTENSIONS = {".html", ".htm"}
PDF_EXTENSIONS = {".pdf"}
JSONL_EXTENSIONS = {".jsonl"}
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS | MARKDOWN_EXTENSIONS | HTML_EXTENSIONS | PDF_EXTENSIONS | JSONL_EXTENSIONS

_FALLBACK_ENCODINGS = ("cp1252", "latin-1")  # latin-1 decodes any byte string


@dataclass
class Loaded:
    documents: list[Document]
    warnings: list[str] = field(default_factory=list)


def decode_text(data: bytes, name: str) -> tuple[str, list[str]]:
    """UTF-8 when it is, a legacy 8-bit encoding otherwise (with a warning), never a crash."""
    if b"\x00" in data[:8192]:
        raise LoadError(f"{name}: looks like a binary file (NUL bytes), skipped")
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    for encoding in _FALLBACK_ENCODINGS:
        try:
            return data.decode(encoding), [f"{name}: not valid UTF-8, decoded as {encoding}"]
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _title_from_stem(path: Path) -> str:
    return re.sub(r"[_\-]+", " ", path.stem).strip()


def _require_text(text: str, path: Path) -> str:
    if not text.strip():
        raise LoadError(f"{path}: empty file, nothing to index")
    return text


def load_text(path: Path, doc_id: str) -> Loaded:
    text, warnings = decode_text(_read_bytes(path), str(path))
    text = _require_text(text, path)
    return Loaded([Document(doc_id, text, _title_from_stem(path), str(path), {"format": "text"})], warnings)


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


def _parse_front_matter(text: str) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    meta = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t")):
            meta[key.strip()] = value.strip().strip("\"'")
    return meta, text[match.end():]


def load_markdown(path: Path, doc_id: str) -> Loaded:
    text, warnings = decode_text(_read_bytes(path), str(path))
    front, body = _parse_front_matter(text)
    body = _require_text(body, path)
    heading = _MD_HEADING.search(body)
    title = front.pop("title", "") or (heading.group(2) if heading else _title_from_stem(path))
    metadata = {"format": "markdown", **front}
    return Loaded([Document(doc_id, body, title, str(path), metadata, format="markdown")], warnings)


_HTML_BLOCKS = [
    "p", "div", "section", "article", "li", "ul", "ol", "pre", "blockquote", "table", "tr",
    "br", "dd", "dt", "figcaption", "header", "footer", "main", "aside",
]  # fmt: skip


def html_to_markdown_text(html: str) -> tuple[str, str]:
    """HTML -> (title, text with '#' headings and paragraph breaks) so the chunker sees its structure."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "nav"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.title:
        soup.title.decompose()
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            heading = " ".join(tag.get_text(" ", strip=True).split())
            tag.replace_with(f"\n\n{'#' * level} {heading}\n\n" if heading else "")
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    body = soup.body or soup
    lines = [" ".join(line.split()) for line in body.get_text().splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if not title:
        first = _MD_HEADING.search(text)
        title = first.group(2) if first else ""
    return title, text


def load_html(path: Path, doc_id: str) -> Loaded:
    raw, warnings = decode_text(_read_bytes(path), str(path))
    title, text = html_to_markdown_text(raw)
    text = _require_text(text, path)
    doc = Document(doc_id, text, title or _title_from_stem(path), str(path), {"format": "html"}, format="markdown")
    return Loaded([doc], warnings)


def load_pdf(path: Path, doc_id: str) -> Loaded:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except (PdfReadError, OSError, ValueError, KeyError) as exc:
        raise LoadError(f"{path}: not a readable PDF ({exc})") from exc
    pages = [re.sub(r"[ \t]+\n", "\n", page).strip() for page in pages]
    if not any(pages):
        raise LoadError(f"{path}: PDF has no text layer (scanned images?); run OCR on it first")
    title = ""
    if info is not None and info.title:
        title = str(info.title).strip()
    metadata = {"format": "pdf", "pages": len(pages)}
    text = "\n\n".join(page for page in pages if page)
    return Loaded([Document(doc_id, text, title or _title_from_stem(path), str(path), metadata)], [])


def json_lines(text: str, where: str | Path, warnings: list[str]) -> Iterator[tuple[int, object]]:
    """(line number, value) for each JSON line; a line that is not JSON is skipped with a warning naming it.

    Split on "\n" only: str.splitlines() also splits on U+0085 and U+2028, which occur inside real
    text (MS MARCO has them) and would cut records in half.
    """
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            warnings.append(f"{where}:{number}: not valid JSON ({exc.msg}), line skipped")


def load_jsonl(path: Path, doc_id: str | None = None) -> Loaded:
    """BEIR corpus lines: {"_id", "title"?, "text", "metadata"?}; bad lines are reported by number."""
    raw, warnings = decode_text(_read_bytes(path), str(path))
    documents: list[Document] = []
    for number, record in json_lines(raw, path, warnings):
        if not isinstance(record, dict):
            warnings.append(f"{path}:{number}: expected a JSON object, line skipped")
            continue
        rid = record.get("_id", record.get("id"))
        text = record.get("text")
        if rid is None or not isinstance(text, str):
            warnings.append(f'{path}:{number}: needs "_id" and a string "text", line skipped')
            continue
        if not text.strip() and not str(record.get("title") or "").strip():
            warnings.append(f"{path}:{number}: document {rid} has no text, line skipped")
            continue
        metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
        documents.append(Document(str(rid), text, str(record.get("title") or ""), str(path), dict(metadata)))
    if not documents:
        raise LoadError(f"{path}: no valid documents in this JSONL file")
    return Loaded(documents, warnings)


_LOADERS = {
    **{ext: load_text for ext in TEXT_EXTENSIONS},
    **{ext: load_markdown for ext in MARKDOWN_EXTENSIONS},
    **{ext: load_html for ext in HTML_EXTENSIONS},
    **{ext: load_pdf for ext in PDF_EXTENSIONS},
    **{ext: load_jsonl for ext in JSONL_EXTENSIONS},
}


def load_file(path: Path, doc_id: str) -> Loaded:
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoadError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
            f"supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))}"
        )
    return loader(path, doc_id)


@dataclass(frozen=True)
class SourceFile:
    path: Path
    doc_id: str
    explicit: bool  # named on the command line rather than found in a folder


def discover(paths: list[str | Path]) -> Iterator[SourceFile]:
    """Files to index: each named file, and every supported file under each named folder (sorted).

    Document ids are the folder's name plus the path below it (or the file name for a named file),
    so re-indexing the same folder from anywhere maps to the same documents. Unsupported types are
    yielded too, so the caller can say what it ignored.
    """
    for raw in paths:
        root = Path(raw).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"path not found: {raw}")
        if root.is_file():
            yield SourceFile(root.resolve(), root.name, True)
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            if any(part.startswith(".") for part in relative.parts):
                continue  # hidden files and folders (.git, .DS_Store) are never documents
            yield SourceFile(path.resolve(), f"{root.resolve().name}/{relative.as_posix()}", False)
