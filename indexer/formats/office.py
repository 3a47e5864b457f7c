"""Office documents: Word, PowerPoint, Excel, CSV, OpenDocument text and EPUB.

Each becomes Markdown-headed text so the chunker's heading paths say where a passage came from: Word
and ODF headings, slide titles, sheet names, EPUB chapter headings. Table and spreadsheet rows are one
paragraph each with their column names ("name: Ada; role: engineer"), so every chunk of a long table
still says what its columns mean. Slides keep their start offsets, as PDF pages do.
"""

from __future__ import annotations

import csv
import io
import posixpath
import xml.etree.ElementTree as ET

from indexer.errors import LoadError
from indexer.formats.base import Loaded, Source, join_blocks, md_heading, md_line, open_zip, require

# spreadsheets: beyond this many rows a sheet is cut (with a warning); beyond this size a file is refused
MAX_SHEET_ROWS = 100_000
MAX_SPREADSHEET_BYTES = 64 * 1024 * 1024


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def rows_to_blocks(rows, name: str, where: str, warnings: list[str]) -> list[str]:
    """Table rows -> one paragraph per row, each cell named by its column header (the first non-empty row)."""
    header: list[str] | None = None
    blocks: list[str] = []
    for number, row in enumerate(rows, start=1):
        cells = [_cell(v) for v in row]
        if not any(cells):
            continue
        if header is None:
            header = cells
            continue
        if len(blocks) >= MAX_SHEET_ROWS:
            warnings.append(f"{name}: {where} has more than {MAX_SHEET_ROWS:,} rows; the rest were not indexed")
            break
        named = [f"{header[i] if i < len(header) and header[i] else f'column {i + 1}'}: {v}" for i, v in enumerate(cells) if v]
        blocks.append(md_line("; ".join(named)))
    if header is not None and not blocks:  # a one-row table: its only row is content
        blocks.append(md_line("; ".join(c for c in header if c)))
    return blocks


def _refuse_huge(source: Source) -> None:
    if len(source.data) > MAX_SPREADSHEET_BYTES:
        raise LoadError(
            f"{source.name}: {len(source.data) / 2**20:.0f} MiB spreadsheet, over the "
            f"{MAX_SPREADSHEET_BYTES // 2**20} MiB limit; export the sheets you need to CSV in parts"
        )


def load_csv(source: Source) -> Loaded:
    _refuse_huge(source)
    text, warnings = source.text()
    sample = text[:16384]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|") if sample.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    try:
        blocks = rows_to_blocks(csv.reader(io.StringIO(text), dialect), source.name, "the table", warnings)
    except csv.Error as exc:
        raise LoadError(f"{source.name}: not a readable CSV file ({exc})") from exc
    return Loaded([source.document(join_blocks(blocks), metadata={"format": "csv"})], warnings)


def load_xlsx(source: Source) -> Loaded:
    _refuse_huge(source)
    open_zip(source, ".xlsx").close()
    openpyxl = require("openpyxl", "openpyxl", "Excel files")
    book = openpyxl.load_workbook(io.BytesIO(source.data), read_only=True, data_only=True)
    warnings: list[str] = []
    blocks: list[str] = []
    try:
        for sheet in book.worksheets:
            rows = rows_to_blocks(sheet.iter_rows(values_only=True), source.name, f"sheet {sheet.title!r}", warnings)
            if rows:
                blocks += [md_heading(1, sheet.title), *rows]
        title = book.properties.title or ""
    finally:
        book.close()
    return Loaded([source.document(join_blocks(blocks), title, {"format": "xlsx"}, format="markdown")], warnings)


def load_docx(source: Source) -> Loaded:
    open_zip(source, ".docx").close()
    docx = require("docx", "python-docx", "Word files")
    document = docx.Document(io.BytesIO(source.data))
    blocks: list[str] = []
    title = document.core_properties.title or ""
    for item in document.iter_inner_content():
        if hasattr(item, "rows"):  # a table
            blocks += rows_to_blocks(([c.text for c in row.cells] for row in item.rows), source.name, "a table", [])
            continue
        text = item.text.strip()
        style = (item.style.name if item.style is not None else "") or ""
        if style == "Title":
            title = title or text
            blocks.append(md_heading(1, text))
        elif style.startswith("Heading") and style[7:].strip().isdigit():
            blocks.append(md_heading(int(style[7:]), text))
        else:
            blocks.append(md_line(text))
    return Loaded([source.document(join_blocks(blocks), title, {"format": "docx"}, format="markdown")], [])


def load_pptx(source: Source) -> Loaded:
    """One heading per slide (its title, or "Slide N"), then its text, tables and speaker notes."""
    open_zip(source, ".pptx").close()
    pptx = require("pptx", "python-pptx", "PowerPoint files")
    deck = pptx.Presentation(io.BytesIO(source.data))
    parts: list[str] = []
    slide_starts: list[int] = []
    offset = 0

    def shape_texts(shapes, skip_id) -> list[str]:
        out = []
        for shape in shapes:
            if shape.shape_id == skip_id:  # the title, already the heading
                continue
            if getattr(shape, "shapes", None) is not None:  # a group
                out += shape_texts(shape.shapes, skip_id)
            elif getattr(shape, "has_table", False) and shape.has_table:
                out += rows_to_blocks(([c.text for c in row.cells] for row in shape.table.rows), source.name, "a table", [])
            elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                out.append(md_line(shape.text_frame.text))
        return out

    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        heading = (title_shape.text_frame.text if title_shape is not None and title_shape.has_text_frame else "").strip()
        skip_id = title_shape.shape_id if title_shape is not None else None
        blocks = [md_heading(1, heading or f"Slide {number}"), *shape_texts(slide.shapes, skip_id)]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            blocks.append(md_line(slide.notes_slide.notes_text_frame.text))
        slide_starts.append(offset)
        part = join_blocks(blocks)
        parts.append(part)
        offset += len(part) + 2
    title = deck.core_properties.title or ""
    metadata = {"format": "pptx", "slides": len(slide_starts), "slide_starts": slide_starts}
    return Loaded([source.document("\n\n".join(parts), title, metadata, format="markdown")], [])


_ODF = {
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def _odf_text(element) -> str:
    """The text of an ODF element, with its space, tab and line-break elements turned back into characters."""
    out = [element.text or ""]
    for child in element:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "s":
            out.append(" " * int(child.get(f"{{{_ODF['text']}}}c", "1")))
        elif tag == "tab":
            out.append("\t")
        elif tag == "line-break":
            out.append("\n")
        elif tag != "note":
            out.append(_odf_text(child))
        out.append(child.tail or "")
    return "".join(out)


def load_odt(source: Source) -> Loaded:
    """OpenDocument text from its content.xml: the format is plain XML, so the standard library reads it."""
    archive = open_zip(source, ".odt")
    try:
        root = ET.fromstring(archive.read("content.xml"))
        meta = ET.fromstring(archive.read("meta.xml")) if "meta.xml" in archive.namelist() else None
    except (KeyError, ET.ParseError) as exc:
        raise LoadError(f"{source.name}: not a valid .odt file ({exc})") from exc
    body = root.find("office:body/office:text", _ODF)
    if body is None:
        raise LoadError(f"{source.name}: not an OpenDocument text file (no text body)")
    blocks: list[str] = []

    def walk(element) -> None:
        for child in element:
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "h":
                blocks.append(md_heading(int(child.get(f"{{{_ODF['text']}}}outline-level", "1")), _odf_text(child)))
            elif tag == "p":
                blocks.append(md_line(_odf_text(child)))
            elif tag == "table":
                rows = ([_odf_text(c) for c in row.iter(f"{{{_ODF['table']}}}table-cell")] for row in child.iter(f"{{{_ODF['table']}}}table-row"))
                blocks.extend(rows_to_blocks(rows, source.name, "a table", []))
            elif tag in ("list", "list-item", "section", "list-header"):
                walk(child)

    walk(body)
    title_node = meta.find(".//dc:title", _ODF) if meta is not None else None
    title = (title_node.text or "").strip() if title_node is not None else ""
    return Loaded([source.document(join_blocks(blocks), title, {"format": "odt"}, format="markdown")], [])


_OPF = {"c": "urn:oasis:names:tc:opendocument:xmlns:container", "opf": "http://www.idpf.org/2007/opf",
        "dc": "http://purl.org/dc/elements/1.1/"}  # fmt: skip


def load_epub(source: Source) -> Loaded:
    """EPUB: the spine's XHTML chapters in reading order, through the HTML loader's heading-aware text."""
    from indexer.formats.text import html_to_markdown_text

    archive = open_zip(source, ".epub")
    try:
        container = ET.fromstring(archive.read("META-INF/container.xml"))
        rootfile = container.find(".//c:rootfile", _OPF).get("full-path")
        package = ET.fromstring(archive.read(rootfile))
        manifest = {item.get("id"): item.get("href") for item in package.iterfind(".//opf:manifest/opf:item", _OPF)}
        spine = [manifest[ref.get("idref")] for ref in package.iterfind(".//opf:spine/opf:itemref", _OPF) if ref.get("idref") in manifest]
        base = posixpath.dirname(rootfile)
        chapters = [archive.read(posixpath.normpath(posixpath.join(base, href))) for href in spine]
    except (KeyError, AttributeError, ET.ParseError) as exc:
        raise LoadError(f"{source.name}: not a valid EPUB (missing or broken package file: {exc})") from exc
    if "META-INF/encryption.xml" in archive.namelist():  # also used for obfuscated fonts, which do no harm
        encrypted = archive.read("META-INF/encryption.xml").decode("utf-8", "replace")
        if any(posixpath.basename(href) in encrypted for href in spine):
            raise LoadError(f"{source.name}: EPUB with encrypted (DRM) chapters cannot be indexed")
    blocks = [html_to_markdown_text(chapter.decode("utf-8", "replace"))[1] for chapter in chapters]
    title_node = package.find(".//dc:title", _OPF)
    title = (title_node.text or "").strip() if title_node is not None else ""
    return Loaded([source.document(join_blocks(blocks), title, {"format": "epub"}, format="markdown")], [])
