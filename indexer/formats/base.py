"""What every format loader shares: the bytes it reads, the documents it returns, and guards for bad input.

A loader takes a Source (bytes plus a name) rather than a path, so a member of a .gz file or an e-mail
attachment goes through the same loader as a file on disk. Each loader raises LoadError with a reason a
user can act on; the batch job prints it as one warning, counts the file as skipped and goes on.
"""

from __future__ import annotations

import importlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath

from indexer.documents import Document
from indexer.errors import LoadError

_FALLBACK_ENCODINGS = ("cp1252", "latin-1")  # latin-1 decodes any byte string
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted OOXML, and legacy .doc/.xls/.ppt
# a zip that inflates past this is refused before any parser sees it (zip bombs, 200 MB spreadsheets)
MAX_UNZIPPED_BYTES = 512 * 1024 * 1024
FORMATS_EXTRA = "pip install 'quarry[formats]'"


@dataclass
class Loaded:
    documents: list[Document]
    warnings: list[str] = field(default_factory=list)


@dataclass
class Source:
    """One thing to load: its bytes, the name warnings use, and the document id it gets."""

    name: str  # a path, or "mail.eml#report.docx" for an attachment
    doc_id: str
    data: bytes

    @property
    def suffix(self) -> str:
        return PurePath(self.name.rsplit("#", 1)[-1]).suffix.lower()

    @property
    def stem(self) -> str:
        return PurePath(self.name.rsplit("#", 1)[-1]).stem

    def title_from_name(self) -> str:
        return re.sub(r"[_\-]+", " ", self.stem).strip()

    def document(self, text: str, title: str = "", metadata: dict | None = None, format: str = "text") -> Document:
        """The usual single document of a file: refused when it holds no text."""
        if not text.strip():
            raise LoadError(f"{self.name}: empty file, nothing to index")
        return Document(self.doc_id, text, title or self.title_from_name(), self.name, dict(metadata or {}), format=format)

    def text(self) -> tuple[str, list[str]]:
        return decode_text(self.data, self.name)


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


_CONTROL = set(range(32)) - {9, 10, 12, 13, 8, 27}  # tab, LF, FF, CR, backspace (man pages), ESC (ANSI colour)


def looks_like_text(data: bytes) -> bool:
    """Sniff a file with no extension: no NUL bytes and (nearly) no control characters in its first 8 KiB."""
    sample = data[:8192]
    if not sample or b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a character cut in half by the sample's end
            return True
    control = sum(1 for b in sample if b in _CONTROL)
    return control / len(sample) < 0.02


def require(module: str, package: str, what: str):
    """Import an optional parser, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LoadError(f"reading {what} needs {package}: {FORMATS_EXTRA}") from exc


def open_zip(source: Source, what: str) -> zipfile.ZipFile:
    """An Office/OpenDocument/EPUB container, refusing encrypted, corrupt and oversized ones with the reason."""
    if source.data.startswith(OLE2_MAGIC):
        raise LoadError(
            f"{source.name}: password-protected (encrypted) or a legacy binary Office file; "
            f"save it without a password as {what} and index it again"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(source.data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise LoadError(f"{source.name}: not a valid {what} file (corrupt or truncated zip: {exc})") from exc
    inflated = sum(m.file_size for m in members)
    if inflated > MAX_UNZIPPED_BYTES:
        raise LoadError(
            f"{source.name}: unpacks to {inflated / 2**20:.0f} MiB, over the {MAX_UNZIPPED_BYTES // 2**20} MiB "
            "limit for one file; split it or export the part you need"
        )
    return archive


def md_line(text: str) -> str:
    """Body text in a Markdown document: a line that starts with '#' must not become a heading."""
    return re.sub(r"(?m)^(\s*)#", r"\1\\#", text)


def md_heading(level: int, title: str) -> str:
    title = " ".join(title.split())
    return f"{'#' * max(1, min(level, 6))} {title}" if title else ""


def join_blocks(blocks: list[str]) -> str:
    """Blocks separated by blank lines (paragraph breaks, the chunker's preferred cuts)."""
    return "\n\n".join(b.strip("\n") for b in blocks if b and b.strip())
