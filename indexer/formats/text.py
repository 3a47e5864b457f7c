"""Text-like formats: plain text, Markdown, HTML, source and config files, reStructuredText, notebooks, JSONL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from indexer.documents import Document
from indexer.errors import LoadError
from indexer.formats.base import Loaded, Source, decode_text, join_blocks, looks_like_text, md_heading, md_line, require

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


def load_text(source: Source) -> Loaded:
    text, warnings = source.text()
    return Loaded([source.document(text, metadata={"format": "text"})], warnings)


def load_untyped(source: Source) -> Loaded:
    """A file with no extension (README, FAQ, copyright): indexed as text when it sniffs as text."""
    if not looks_like_text(source.data):
        raise LoadError(f"{source.name}: no file extension and the content is not text (binary), skipped")
    return load_text(source)


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


def _first_heading(text: str) -> str:
    heading = _MD_HEADING.search(text)
    return heading.group(2) if heading else ""


def load_markdown(source: Source) -> Loaded:
    text, warnings = source.text()
    front, body = _parse_front_matter(text)
    title = front.pop("title", "") or _first_heading(body)
    return Loaded([source.document(body, title, {"format": "markdown", **front}, format="markdown")], warnings)


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
    return title or _first_heading(text), text


def load_html(source: Source) -> Loaded:
    raw, warnings = source.text()
    title, text = html_to_markdown_text(raw)
    return Loaded([source.document(text, title, {"format": "html"}, format="markdown")], warnings)


CODE_LANGUAGES = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".ts": "typescript", ".tsx": "typescript",
    ".go": "go", ".java": "java", ".c": "c", ".h": "c", ".cpp": "cpp", ".rs": "rust", ".rb": "ruby",
    ".sh": "shell", ".sql": "sql", ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml",
    ".xml": "xml", ".ini": "ini", ".cfg": "ini", ".conf": "config", ".log": "log", ".pl": "perl", ".pm": "perl",
    ".service": "systemd", ".socket": "systemd", ".timer": "systemd",
}  # fmt: skip


def load_code(source: Source) -> Loaded:
    """Source and config files as plain text (never Markdown: a '# comment' is not a heading)."""
    text, warnings = source.text()
    language = CODE_LANGUAGES.get(source.suffix, "text")
    # the file name is the best title a source file has: queries name modules and config files
    title = Path(source.name.rsplit("#", 1)[-1]).name
    return Loaded([source.document(text, title, {"format": "code", "language": language})], warnings)


def rst_to_markdown(text: str) -> tuple[str, str]:
    """reStructuredText -> (title, Markdown-headed text): section titles become headings at their depth.

    docutils parses without side effects (no file inclusion, no raw passthrough, no messages printed);
    Sphinx-only roles and directives survive as their source text rather than being lost.
    """
    core = require("docutils.core", "docutils", "reStructuredText")
    nodes = require("docutils.nodes", "docutils", "reStructuredText")
    overrides = {
        "report_level": 5, "halt_level": 5, "warning_stream": False, "file_insertion_enabled": False,
        "raw_enabled": False, "doctitle_xform": False, "sectsubtitle_xform": False, "input_encoding": "unicode",
    }  # fmt: skip
    tree = core.publish_doctree(text, settings_overrides=overrides)
    blocks: list[str] = []

    def walk(node, depth: int) -> None:
        for child in node.children:
            if isinstance(child, nodes.section):
                title = child.next_node(nodes.title)
                blocks.append(md_heading(depth, title.astext() if title else ""))
                walk(child, depth + 1)
            elif isinstance(child, (nodes.title, nodes.comment, nodes.substitution_definition, nodes.target)):
                continue
            elif isinstance(child, nodes.system_message):
                blocks.extend("    " + b.astext().replace("\n", "\n    ") for b in child.findall(nodes.literal_block))
            elif isinstance(child, (nodes.literal_block, nodes.doctest_block)):
                blocks.append("    " + child.astext().replace("\n", "\n    "))
            else:
                blocks.append(md_line(child.astext()))

    walk(tree, 1)
    body = join_blocks(blocks)
    return _first_heading(body), body


def load_rst(source: Source) -> Loaded:
    raw, warnings = source.text()
    title, text = rst_to_markdown(raw)
    return Loaded([source.document(text, title, {"format": "rst"}, format="markdown")], warnings)


def notebook_to_markdown(raw: str, name: str) -> tuple[str, str, str]:
    """A Jupyter notebook -> (title, text, language): Markdown cells as they are, code cells indented."""
    try:
        notebook = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LoadError(f"{name}: not a Jupyter notebook (not valid JSON: {exc.msg} at line {exc.lineno})") from exc
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise LoadError(f"{name}: not a Jupyter notebook (no list of cells; nbformat 4 is supported)")
    metadata = notebook.get("metadata") if isinstance(notebook.get("metadata"), dict) else {}
    language = str((metadata.get("kernelspec") or {}).get("language") or (metadata.get("language_info") or {}).get("name") or "")
    blocks = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        body = cell.get("source", "")
        body = "".join(body) if isinstance(body, list) else str(body)
        if cell.get("cell_type") == "markdown":
            blocks.append(body)
        elif cell.get("cell_type") == "code" and body.strip():
            blocks.append("    " + body.replace("\n", "\n    "))  # indented: a '# comment' is not a heading
    text = join_blocks(blocks)
    return _first_heading(text), text, language


def load_notebook(source: Source) -> Loaded:
    raw, warnings = source.text()
    title, text, language = notebook_to_markdown(raw, source.name)
    metadata = {"format": "ipynb", **({"language": language} if language else {})}
    return Loaded([source.document(text, title, metadata, format="markdown")], warnings)


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


def load_jsonl(source: Source) -> Loaded:
    """BEIR corpus lines: {"_id", "title"?, "text", "metadata"?}; bad lines are reported by number."""
    raw, warnings = decode_text(source.data, source.name)
    path = source.name
    documents = [doc for number, record in json_lines(raw, path, warnings) if (doc := jsonl_document(record, number, path, warnings))]
    if not documents:
        raise LoadError(f"{path}: no valid documents in this JSONL file")
    return Loaded(documents, warnings)


def jsonl_document(record: object, number: int, path: str, warnings: list[str]) -> Document | None:
    """One corpus line's record as a Document, or None with a warning naming the line."""
    if not isinstance(record, dict):
        warnings.append(f"{path}:{number}: expected a JSON object, line skipped")
        return None
    rid = record.get("_id", record.get("id"))
    text = record.get("text")
    if rid is None or not isinstance(text, str):
        warnings.append(f'{path}:{number}: needs "_id" and a string "text", line skipped')
        return None
    if not text.strip() and not str(record.get("title") or "").strip():
        warnings.append(f"{path}:{number}: document {rid} has no text, line skipped")
        return None
    metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    return Document(str(rid), text, str(record.get("title") or ""), path, dict(metadata))


def stream_jsonl(path: Path, warnings: list[str], max_line_bytes: int | None = None) -> Iterator[tuple[Document, int]]:
    """(document, bytes of its line) for each record of a corpus.jsonl, read a line at a time, so a corpus of
    any size costs the memory of one line. A line over max_line_bytes is skipped unparsed, with a warning."""
    name = str(path)
    with open(path, "rb") as handle:
        number = 0
        while True:
            line = handle.readline(max_line_bytes + 1) if max_line_bytes else handle.readline()
            if not line:
                return
            number += 1
            size = len(line)
            if max_line_bytes and size > max_line_bytes and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # the rest of the line, read and dropped in pieces
                    line = handle.readline(1 << 20)
                    size += len(line)
                warnings.append(f"{name}:{number}: line of over {max_line_bytes} bytes, line skipped")
                continue
            try:
                text, decoded = decode_text(line, f"{name}:{number}")
            except LoadError:  # NUL bytes in this line
                warnings.append(f"{name}:{number}: binary data (NUL bytes), line skipped")
                continue
            warnings.extend(decoded)
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                warnings.append(f"{name}:{number}: not valid JSON ({exc.msg}), line skipped")
                continue
            doc = jsonl_document(record, number, name, warnings)
            if doc is not None:
                yield doc, size
