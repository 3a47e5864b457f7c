"""gzip-compressed text: man pages (roff rendered to Markdown-headed text), changelogs, anything text-like.

The member is loaded by the loader its inner name calls for (notes.md.gz as Markdown); a man page
(name.1.gz .. name.9.gz, or roff content) is rendered here; anything else is sniffed for text.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Callable
from pathlib import PurePath

from indexer.errors import LoadError
from indexer.formats.base import Loaded, Source, join_blocks, looks_like_text, md_heading, md_line

MAX_GUNZIPPED_BYTES = 256 * 1024 * 1024
_MAN_SECTION = re.compile(r"^\.[1-9][a-z]*$")


def gunzip(source: Source) -> bytes:
    if not source.data.startswith(b"\x1f\x8b"):
        raise LoadError(f"{source.name}: named .gz but not gzip-compressed, skipped")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(source.data)) as f:
            data = f.read(MAX_GUNZIPPED_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise LoadError(f"{source.name}: corrupt gzip data ({exc})") from exc
    if len(data) > MAX_GUNZIPPED_BYTES:
        raise LoadError(f"{source.name}: unpacks to over {MAX_GUNZIPPED_BYTES // 2**20} MiB; too large for one document")
    return data


def load_gzip(source: Source, load_member: Callable[[Source], Loaded | None]) -> Loaded:
    """load_member: loads the member by its inner name's format, or returns None when no loader has it."""
    data = gunzip(source)
    inner = Source(source.name[: -len(".gz")] if source.name.lower().endswith(".gz") else source.name, source.doc_id, data)
    if inner.suffix in (".tar", ".tgz"):
        raise LoadError(f"{source.name}: a compressed tar archive; extract it and index the folder")
    if _MAN_SECTION.match(inner.suffix) or data.lstrip().startswith((b".TH", b'.\\"', b"'\\\"", b".Dd", b".so ")):
        loaded = load_man(inner)
    else:
        loaded = load_member(inner) if inner.suffix not in ("", ".gz") else None
    if loaded is None:
        if not looks_like_text(data):
            raise LoadError(f"{source.name}: compressed content is not text (binary), skipped")
        text, warnings = inner.text()
        loaded = Loaded([inner.document(text, metadata={"format": "text"})], warnings)
    for doc in loaded.documents:
        doc.source = source.name
        doc.metadata = {**doc.metadata, "compressed": "gzip"}
    return loaded


# roff escapes: named glyphs worth keeping, everything else (fonts, sizes, strings, motions) dropped
_GLYPHS = {"em": "—", "en": "–", "bu": "•", "aq": "'", "dq": '"', "co": "©", "rg": "®", "lq": "“", "rq": "”",
           "oq": "‘", "cq": "’", "hy": "-", "mi": "-", "ti": "~", "ha": "^", "rs": "\\", "<=": "≤", ">=": "≥",
           "mu": "×", "de": "°", "tm": "™", "Fo": "«", "Fc": "»"}  # fmt: skip
_ESCAPE = re.compile(
    r"\\(?:\((?P<g2>..)|\[(?P<gb>[^\]]*)\]|f(?:\(..|\[[^\]]*\]|.)|s[-+]?(?:\d|\(\d\d|\[\d+\])|\*(?:\(..|\[[^\]]*\]|.)"
    r"|[hvwlLNbkoxXyzZ]'[^']*'|n(?:\(..|\[[^\]]*\]|.)|(?P<c>.))"
)
_SIMPLE = {"-": "-", "e": "\\", "\\": "\\", " ": " ", "~": " ", "0": " ", "|": "", "^": "", "&": "", "c": "",
           ".": ".", "'": "'", "`": "`", "t": "\t", "%": "", ":": "", "/": "", ",": "", ")": ""}  # fmt: skip


def _unescape(text: str) -> str:
    def replace(match: re.Match) -> str:
        glyph = match.group("g2") or match.group("gb")
        if glyph is not None:
            return _GLYPHS.get(glyph, "")
        char = match.group("c")
        return _SIMPLE.get(char, "") if char is not None else ""

    return _ESCAPE.sub(replace, text)


def _arguments(line: str) -> list[str]:
    """A request's arguments, honouring "double quoted" ones."""
    return [a[1:-1] if a.startswith('"') else a for a in re.findall(r'"[^"]*"?|\S+', line)]


_ALTERNATING = {"BR", "RB", "BI", "IB", "IR", "RI"}  # font-alternating macros join their arguments without spaces
_TEXT_MACROS = {"B", "I", "SM", "SB", "Nm", "Ar", "Pa", "Cm", "Ev", "Va", "Em", "Sy", "Li", "Dv", "Er", "Ic", "Fn", "Ft", "Nd", "Dq", "Ql", "Sq", "Xr", "Op", "Ad", "An", "Lk", "Mt", "Ms", "Tn"}
_BREAKS = {"PP", "LP", "P", "sp", "br", "Pp", "Bl", "El", "Bd", "Ed", "RS", "RE", "nf", "fi", "TS", "TE"}


def roff_to_markdown(roff: str) -> tuple[str, str]:
    """man(7) and mdoc(7) source -> (title, text): .SH/.Sh are headings, .SS/.Ss subheadings, macros become text."""
    blocks: list[str] = []
    paragraph: list[str] = []
    title = ""
    pending_heading = 0  # .SH with its title on the next line

    def end_paragraph() -> None:
        if paragraph:
            blocks.append(md_line(" ".join(paragraph)))
            paragraph.clear()

    skipping = False  # inside .de/.ig definitions
    for raw in roff.splitlines():
        if skipping:
            skipping = raw.strip() not in ("..", ".end")
            continue
        if raw.startswith((".", "'")):
            request, _, rest = raw[1:].strip().partition(" ")
            if request.startswith('\\"') or request == "":
                continue
            args = [_unescape(a) for a in _arguments(rest)]
            if request in ("de", "ig", "am"):
                skipping = True
            elif request in ("TH", "Dt"):
                title = f"{args[0]}({args[1]})" if len(args) > 1 else (args[0] if args else "")
            elif request in ("SH", "Sh", "SS", "Ss"):
                end_paragraph()
                level = 1 if request in ("SH", "Sh") else 2
                if args:
                    blocks.append(md_heading(level, " ".join(args)))
                else:
                    pending_heading = level
            elif request in ("TP", "IP", "It", "HP", "TQ"):
                end_paragraph()
                if args and request != "TP":
                    paragraph.append(" ".join(args if request == "It" else args[:1]))
                    end_paragraph()
            elif request in _BREAKS:
                end_paragraph()
            elif request in _ALTERNATING:
                paragraph.append("".join(args))
            elif request == "Fl":
                paragraph.append(" ".join("-" + a for a in args) if args else "-")
            elif request in _TEXT_MACROS:
                paragraph.append(" ".join(args))
            continue  # any other request (fonts, spacing, conditionals) carries no text worth indexing
        text = _unescape(raw).strip()
        if pending_heading:
            blocks.append(md_heading(pending_heading, text))
            pending_heading = 0
        elif text:
            paragraph.append(text)
        else:
            end_paragraph()
    end_paragraph()
    return title, join_blocks(blocks)


def load_man(source: Source) -> Loaded:
    text, warnings = source.text()
    if text.lstrip().startswith(".so "):
        target = text.lstrip()[4:].split()[0] if text.lstrip()[4:].split() else "?"
        raise LoadError(f"{source.name}: a man page link to {target} (indexed there), skipped")
    title, body = roff_to_markdown(text)
    name = PurePath(source.name).name
    return Loaded([source.document(body, title or name, {"format": "man"}, format="markdown")], warnings)
