"""Judged sets built from text nobody here wrote, so quality is measured beyond msmarco-subset.

    python -m benchmarks.datasets OUT_DIR [--sets man-de,man-fr,...] [--queries 150] [--max-documents N]

Known-item sets from Debian's manual pages, one per language: the query is a page's NAME line
description ("ls - list directory contents" -> "list directory contents"), the answer is that page,
whose indexed text is everything but the NAME section (title: the page name, e.g. "ls(1)").
The Debian packages are fetched with `apt-get download` into OUT_DIR/debs and unpacked there, so a
set is rebuilt from the same package version byte for byte. `pydoc-en` does the same with the
docstrings of Python's standard library (query: a docstring's summary line; document: the rest).
`debian-en` is a set of entity descriptions: Debian packages (programs, not libraries or their parts),
query = a package's one-line synopsis without the package's name, answer = its long description,
title = the package name. `debian-apps-en` has the same corpus, but its queries are the one-line
summaries the applications' upstream authors wrote for AppStream (DEP-11), so query and answer come from
different hands, as in entity search. Both are fetched by `apt-get update` into OUT_DIR/apt (the archive's
English translation index and DEP-11 metadata; the system's own apt lists are not touched).

Each set is a BEIR folder OUT_DIR/<set>/ (corpus.jsonl, queries.jsonl, qrels/test.tsv) that
`quarry eval --compare dense,lexical,hybrid OUT_DIR/<set>` reads. Queries and corpus are sampled
with a fixed seed; pages whose NAME description is shared by another page are not used as queries
(they have more than one right answer).
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import inspect
import json
import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# set -> (Debian packages, man directory inside them, sections used)
MAN_SETS = {
    "man-en": (("manpages", "manpages-dev"), "usr/share/man", ("2", "3", "5", "7")),
    "man-de": (("manpages-de",), "usr/share/man/de", ("1", "5", "7", "8")),
    "man-fr": (("manpages-fr",), "usr/share/man/fr", ("1", "2", "3", "5", "7", "8")),
    "man-es": (("manpages-es",), "usr/share/man/es", ("1", "2", "3", "5", "7", "8")),
    "man-ru": (("manpages-ru",), "usr/share/man/ru", ("1", "5", "7", "8")),
    "man-zh": (("manpages-zh",), "usr/share/man/zh_CN", ("1", "2", "3", "5", "7", "8")),
    "man-ja": (("manpages-ja",), "usr/share/man/ja", ("1", "2", "3", "5", "7", "8")),
}
PYDOC_MODULES = (
    "argparse asyncio.tasks base64 bisect calendar collections configparser contextlib copy csv datetime decimal "
    "difflib email.message fnmatch fractions ftplib functools gettext glob gzip hashlib heapq hmac html.parser "
    "http.client http.cookiejar imaplib inspect ipaddress itertools json logging mailbox mimetypes netrc operator "
    "os pathlib pickle pprint random re sched secrets shlex shutil smtplib socket sqlite3 statistics string "
    "subprocess tarfile tempfile textwrap threading timeit tokenize traceback typing unittest.case urllib.parse "
    "urllib.request uuid warnings weakref xml.dom.minidom zipfile zlib"
).split()
SETS = (*MAN_SETS, "pydoc-en", "debian-en", "debian-apps-en")
# Package families whose descriptions are mostly shared boilerplate ("This package contains the development
# files for ..."): libraries, language modules, fonts, documentation and data parts.
DEBIAN_SKIP = re.compile(
    r"^(lib|python3?-|golang-|librust-|node-|r-cran-|r-bioc-|ruby-|php-|fonts-|texlive|firmware|linux-|haskell-"
    r"|ocaml|elpa-|gir1|xfonts|hunspell|myspell|aspell|hyphen|mythes|openstack|puppet|jupyter|sphinx|qml|qt)"
    r"|(-dev|-doc|-dbg|-data|-common|-dbgsym|-examples|-tests?|-l10n.*|-locale.*|-i18n)$"
)
MAX_DOCUMENT_CHARS = 800  # the opening of a page: enough to recognise it, cheap to embed on a CPU
MAX_DOCUMENTS = 300
# Sets measured with other sizes than these defaults (docs/quality.md's table): (documents, characters kept).
SET_SIZES = {"pydoc-en": (400, 2000), "debian-en": (3000, MAX_DOCUMENT_CHARS), "debian-apps-en": (3000, MAX_DOCUMENT_CHARS)}


def clip(text: str, budget: int = MAX_DOCUMENT_CHARS) -> str:
    """The opening of a text within a budget of roughly English-sized characters: a CJK character costs
    3 (MiniLM's tokenizer makes it a token of its own), a Cyrillic one 2 (its vocabulary spells them out)."""
    spent = 0
    for i, ch in enumerate(text):
        spent += 3 if "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" else 2 if "\u0400" <= ch <= "\u04ff" else 1
        if spent > budget:
            return text[:i]
    return text


@dataclass
class Page:
    doc_id: str
    title: str
    query: str
    text: str


# roff -> text ------------------------------------------------------------------------------------
_ESCAPES = [
    (re.compile(r"\\f(\(..|\[[^\]]*\]|.)"), ""),  # font changes
    (re.compile(r"\\s[-+]?\d"), ""),  # size changes
    (re.compile(r"\\\*(\(..|\[[^\]]*\]|.)"), ""),  # strings
    (re.compile(r"\\\((em|en)"), " - "),
    (re.compile(r"\\\((aq|cq)"), "'"),
    (re.compile(r"\\\((lq|rq|dq)"), '"'),
    (re.compile(r"\\\((bu|co|rg|tm|de|mu|>=|<=|->|<-)"), " "),
    (re.compile(r"\\\(.."), ""),
    (re.compile(r"\\\[[^\]]*\]"), ""),
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\[ ~0]"), " "),
    (re.compile(r"\\[&,/%:|^c]"), ""),
    (re.compile(r"\\."), ""),
]
_TEXT_MACROS = {"B", "I", "BR", "BI", "IB", "IR", "RB", "RI", "SM", "SB", "IP", "TP", "HP", "SS", "SH", "UR", "MT", "Nm", "Nd", "Dl"}


def unescape(line: str) -> str:
    for pattern, replacement in _ESCAPES:
        line = pattern.sub(replacement, line)
    return line


def _macro_text(name: str, rest: str) -> str:
    """The words a text macro prints: `.BR ls (1)` -> `ls(1)`, `.B "two words"` -> `two words`."""
    parts = re.findall(r'"([^"]*)"|(\S+)', rest)
    words = [a or b for a, b in parts]
    if name in ("IP", "TP", "HP") and words:
        words = words[:1] if name == "IP" else words
    alternating = len(name) == 2 and name not in ("IP", "TP", "HP", "SS", "SH", "SM", "SB", "UR", "MT", "Nm", "Nd", "Dl")
    return ("" if alternating else " ").join(words)


def roff_sections(source: str) -> list[tuple[str, str]]:
    """(heading, text) for each .SH section of a man page, with the markup removed."""
    sections: list[tuple[str, list[str]]] = []
    for raw in source.splitlines():
        if raw.startswith(('.\\"', "'\\\"", '\\"')) or raw.strip() in (".", "'"):
            continue
        if raw.startswith((".", "'")):
            match = re.match(r"[.'](\S+)\s*(.*)", raw)
            if not match:
                continue
            name, rest = match.groups()
            if name in ("SH", "Sh"):
                sections.append((unescape(rest).strip().strip('"'), []))
                continue
            if name not in _TEXT_MACROS:
                if sections and name in ("PP", "P", "LP", "sp", "br", "Pp"):
                    sections[-1][1].append("")
                continue
            text = _macro_text(name, rest)
        else:
            text = raw
        if sections:
            sections[-1][1].append(unescape(text))
    out = []
    for heading, lines in sections:
        paragraphs = re.split(r"\n\s*\n", "\n".join(lines))
        body = "\n\n".join(re.sub(r"\s+", " ", p).strip() for p in paragraphs if p.strip())
        out.append((heading, body))
    return out


def read_man_page(path: Path) -> str | None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.lstrip().startswith(".so "):  # a link to another page
        return None
    return text


def man_page(path: Path, budget: int = MAX_DOCUMENT_CHARS) -> Page | None:
    source = read_man_page(path)
    if source is None:
        return None
    sections = roff_sections(source)
    if len(sections) < 2:
        return None
    name_line = sections[0][1].replace("\n", " ")
    parts = re.split(r"\s+[-\u2013\u2014]+\s+|\s+-(?=\S)|(?<=\S)-\s+", name_line, maxsplit=1)
    if len(parts) != 2:
        return None
    names, description = parts[0].strip(), parts[1].strip().rstrip(".")
    body = "\n\n".join(f"{heading}\n{text}" for heading, text in sections[1:] if text)
    if len(description) < 8 or len(body) < 200:
        return None
    stem = path.name.removesuffix(".gz")
    page, _, section = stem.rpartition(".")
    return Page(f"{page}.{section}", f"{page}({section})", description, clip(body, budget))


def fetch_packages(packages: tuple[str, ...], out: Path) -> Path:
    """Download the Debian packages (once) and unpack them under out/debs/root."""
    debs, root = out / "debs", out / "debs" / "root"
    debs.mkdir(parents=True, exist_ok=True)
    for package in packages:
        if not list(debs.glob(f"{package}_*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
        marker = root / f".{deb.name}.unpacked"
        if not marker.exists():
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
    return root


def man_pages(name: str, out: Path, budget: int = MAX_DOCUMENT_CHARS) -> list[Page]:
    packages, subdir, sections = MAN_SETS[name]
    root = fetch_packages(packages, out) / subdir
    pages = []
    for section in sections:
        for path in sorted((root / f"man{section}").glob("*")):
            if path.is_file() and (page := man_page(path, budget)) is not None:
                pages.append(page)
    return pages


# Python docstrings -------------------------------------------------------------------------------
def pydoc_pages(budget: int = MAX_DOCUMENT_CHARS) -> list[Page]:
    pages, seen = [], set()
    for module_name in PYDOC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        members = [(module_name, module)]
        for attr, value in sorted(vars(module).items()):
            if attr.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            members.append((f"{module_name}.{attr}", value))
            if inspect.isclass(value):
                members += [(f"{module_name}.{attr}.{m}", v) for m, v in sorted(vars(value).items()) if not m.startswith("_") and callable(v)]
        for qualified, value in members:
            doc = inspect.getdoc(value)
            if not doc or id(value) in seen:
                continue
            seen.add(id(value))
            summary, _, rest = doc.partition("\n")
            summary, rest = summary.strip().rstrip("."), rest.strip()
            if "(" in summary.split(" ")[0] or len(summary.split()) < 4 or len(rest) < 150:
                continue  # a signature, not a sentence; or nothing left to find it by
            pages.append(Page(qualified, qualified, summary, clip(rest, budget)))
    return pages


# Debian package descriptions -------------------------------------------------------------------------
def apt_lists(out: Path, pattern: str) -> list[Path]:
    """The archive's index files matching pattern, fetched once with apt-get into out/apt/lists."""
    lists = out / "apt" / "lists"
    if not list(lists.glob(pattern)):
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        options = ["Dir::State::Lists=" + str(lists), "Acquire::Languages=en", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=true"]
        subprocess.run(["apt-get", "update", *[arg for option in options for arg in ("-o", option)]], check=True)
    return sorted(lists.glob(pattern))


def debian_translations(out: Path) -> list[Path]:
    """The archive's English description files, decompressed."""
    texts = []
    for packed in apt_lists(out, "*_i18n_Translation-en*"):
        text = out / "apt" / (re.sub(r"\.(lz4|xz|gz|bz2|zst)$", "", packed.name) + ".txt")
        if text.name == packed.name + ".txt":  # stored uncompressed
            text = packed
        elif not text.exists():
            with open(text, "wb") as handle:
                subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", str(packed)], stdout=handle, check=True)
        texts.append(text)
    return texts


def debian_description(long: str) -> str:
    """A control-file long description -> paragraphs (" ." lines separate them; indented lines stay lines)."""
    paragraphs, lines = [], []
    for line in long.splitlines():
        line = line[1:] if line.startswith(" ") else line
        if line.strip() == ".":
            paragraphs.append(lines)
            lines = []
        elif line.startswith(" "):  # preformatted (lists): keep the line break
            lines.append("\n" + line.strip())
        else:
            lines.append(line.strip())
    paragraphs.append(lines)
    return "\n\n".join(re.sub(r" *\n", "\n", " ".join(p)).strip() for p in paragraphs if p)


def debian_pages(out: Path, budget: int = MAX_DOCUMENT_CHARS) -> list[Page]:
    pages: dict[str, Page] = {}
    for path in debian_translations(out):
        for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
            name = re.search(r"^Package: (\S+)", paragraph, re.M)
            description = re.search(r"^Description-en: (.*)\n((?: .*(?:\n|$))*)", paragraph, re.M)
            if not name or not description or name[1] in pages or DEBIAN_SKIP.search(name[1]):
                continue
            synopsis = description[1].strip().rstrip(".")
            body = debian_description(description[2])
            words = set(re.findall(r"[\w+.-]+", synopsis.lower()))
            if name[1].lower() in words or synopsis.lower() in body.lower():
                continue  # the answer's name, or its whole synopsis word for word, would give it away
            if len(synopsis.split()) < 3 or len(body) < 150:
                continue
            pages[name[1]] = Page(name[1], name[1], synopsis, clip(body, budget))
    return list(pages.values())


def appstream_summaries(out: Path) -> dict[str, str]:
    """package -> the summary its upstream wrote for AppStream, for applications whose name it does not spell."""
    import yaml

    summaries: dict[str, str] = {}
    for path in apt_lists(out, "*_dep11_Components-*.yml*"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for component in yaml.load_all(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if not isinstance(component, dict) or not str(component.get("Type", "")).endswith("application"):
                    continue
                package, summary = component.get("Package"), (component.get("Summary") or {}).get("C", "")
                name = str((component.get("Name") or {}).get("C", ""))
                text = re.sub(r"\s+", " ", str(summary)).strip().rstrip(".")
                lowered = text.lower()
                if package and len(text.split()) >= 2 and package.lower() not in lowered.split() and not (name and name.lower() in lowered):
                    summaries.setdefault(package, text)
    return summaries


def debian_app_pages(out: Path, budget: int = MAX_DOCUMENT_CHARS) -> list[Page]:
    """debian-en's pages with the upstream AppStream summary as query (none for packages without one)."""
    summaries = appstream_summaries(out)
    pages = debian_pages(out, budget)
    for page in pages:
        summary = summaries.get(page.doc_id, "")
        page.query = summary if summary and summary.lower() not in page.text.lower() else ""
    return pages


# BEIR output -------------------------------------------------------------------------------------
def write_beir(pages: list[Page], directory: Path, queries: int, max_documents: int, seed: int = 13) -> dict:
    """Sample a corpus and known-item queries (unique descriptions only) and write a BEIR folder."""
    rng = random.Random(seed)
    unique = {p.doc_id: p for p in pages}
    pages = sorted(unique.values(), key=lambda p: p.doc_id)
    if len(pages) > max_documents:
        pages = sorted(rng.sample(pages, max_documents), key=lambda p: p.doc_id)
    counts: dict[str, int] = {}
    for p in pages:
        counts[p.query.lower()] = counts.get(p.query.lower(), 0) + 1
    candidates = [p for p in pages if p.query and counts[p.query.lower()] == 1]
    chosen = sorted(rng.sample(candidates, min(queries, len(candidates))), key=lambda p: p.doc_id)
    (directory / "qrels").mkdir(parents=True, exist_ok=True)
    with open(directory / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for p in pages:
            handle.write(json.dumps({"_id": p.doc_id, "title": p.title, "text": p.text}, ensure_ascii=False) + "\n")
    with open(directory / "queries.jsonl", "w", encoding="utf-8") as handle:
        for i, p in enumerate(chosen):
            handle.write(json.dumps({"_id": f"q{i}", "text": p.query}, ensure_ascii=False) + "\n")
    with open(directory / "qrels" / "test.tsv", "w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for i, p in enumerate(chosen):
            handle.write(f"q{i}\t{p.doc_id}\t1\n")
    return {"documents": len(pages), "queries": len(chosen)}


def build(name: str, out: Path, queries: int, max_documents: int, budget: int = MAX_DOCUMENT_CHARS) -> dict:
    if name == "pydoc-en":
        pages = pydoc_pages(budget)
    elif name == "debian-en":
        pages = debian_pages(out, budget)
    elif name == "debian-apps-en":
        pages = debian_app_pages(out, budget)
    else:
        pages = man_pages(name, out, budget)
    return write_beir(pages, out / name, queries, max_documents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the sets (and the downloaded packages); keep it outside the repo")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, from: {', '.join(SETS)}")
    parser.add_argument("--queries", type=int, default=100, help="known-item queries per set")
    parser.add_argument("--max-documents", type=int, help=f"corpus size cap per set (sampled; default {MAX_DOCUMENTS}, or SET_SIZES)")
    parser.add_argument("--max-chars", type=int, help=f"length of each document's opening kept (default {MAX_DOCUMENT_CHARS}, or SET_SIZES)")
    args = parser.parse_args()
    for name in (s.strip() for s in args.sets.split(",") if s.strip()):
        if name not in SETS:
            parser.error(f"unknown set {name!r}: use {', '.join(SETS)}")
        documents, chars = SET_SIZES.get(name, (MAX_DOCUMENTS, MAX_DOCUMENT_CHARS))
        built = build(name, args.out, args.queries, args.max_documents or documents, args.max_chars or chars)
        print(name, json.dumps(built), flush=True)


if __name__ == "__main__":
    main()
