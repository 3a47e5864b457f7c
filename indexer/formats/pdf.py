"""PDF through pypdf's text layer; each page's start offset is kept so a hit can say its page."""

from __future__ import annotations

import io
import re

from indexer.errors import LoadError
from indexer.formats.base import Loaded, Source


def load_pdf(source: Source) -> Loaded:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(source.data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise LoadError(f"{source.name}: password-protected PDF; save a copy without a password")
            except (NotImplementedError, PdfReadError) as exc:
                raise LoadError(f"{source.name}: encrypted PDF that cannot be opened ({exc})") from exc
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except LoadError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LoadError(f"{source.name}: not a readable PDF ({exc})") from exc
    pages = [re.sub(r"[ \t]+\n", "\n", page).strip() for page in pages]
    if not any(pages):
        raise LoadError(f"{source.name}: PDF has no text layer (scanned images?); run OCR on it first")
    parts, page_starts, offset = [], [], 0
    for page in pages:
        page_starts.append(offset)  # an empty page starts where the next one does
        if page:
            parts.append(page)
            offset += len(page) + 2
    title = str(info.title).strip() if info is not None and info.title else ""
    metadata = {"format": "pdf", "pages": len(pages), "page_starts": page_starts}
    return Loaded([source.document("\n\n".join(parts), title, metadata)], [])
