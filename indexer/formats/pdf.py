"""PDF through pypdf's text layer; each page's start offset is kept so a hit can say its page."""

from __future__ import annotations

import io
import re

from indexer.errors import LoadError
from indexer.formats.base import Loaded, Source
from indexer.formats.ocr import ocr_config, page_text


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
        pages = [re.sub(r"[ \t]+\n", "\n", page.extract_text() or "").strip() for page in reader.pages]
        ocr = ocr_config()
        scanned = [i for i, text in enumerate(pages) if not text] if ocr.active else []
        for i in scanned:  # pages without a text layer: read the scan
            pages[i] = page_text(reader.pages[i], f"{source.name} page {i + 1}")
        info = reader.metadata
    except LoadError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LoadError(f"{source.name}: not a readable PDF ({exc})") from exc
    if not any(pages):
        if ocr.active:
            raise LoadError(f"{source.name}: PDF has no text layer and OCR found no text in its images")
        raise LoadError(
            f"{source.name}: PDF has no text layer (scanned images?); "
            + (ocr.problem if ocr.problem else "QUARRY_OCR=auto reads scans (docs/formats.md)")
        )
    parts, page_starts, offset = [], [], 0
    for page in pages:
        page_starts.append(offset)  # an empty page starts where the next one does
        if page:
            parts.append(page)
            offset += len(page) + 2
    title = str(info.title).strip() if info is not None and info.title else ""
    metadata = {"format": "pdf", "pages": len(pages), "page_starts": page_starts}
    if scanned:
        metadata["ocr_pages"] = [i + 1 for i in scanned]
    return Loaded([source.document("\n\n".join(parts), title, metadata)], [])
