"""Every format the loaders read, built in the test: its text is indexed, found first, and says where it came from."""

import gzip
import json
from pathlib import Path

import pytest

from indexer.collection import Manifest
from indexer.errors import LoadError
from indexer.formats import load_file, looks_like_text
from indexer.formats import office
from indexer.formats.compressed import roff_to_markdown
from indexer.pipeline import Indexer
from service.search.pipeline import search
from tests.corpus_factory import write_pdf
from tests.format_factory import FACTS, BROKEN_EML, write_every_format, write_docx, write_pptx, write_xlsx


@pytest.fixture(scope="module")
def every_format(tmp_path_factory, minilm):
    """One file of each format indexed with the bundled MiniLM into one collection."""
    from indexer.catalog import Catalog
    from models import DEFAULT_EMBEDDER

    base = tmp_path_factory.mktemp("formats")
    folder = write_every_format(base / "team")
    catalog = Catalog(base / "data")
    collection = catalog.create(Manifest("team", DEFAULT_EMBEDDER, minilm.dimension, chunk_size=128, chunk_overlap=16))
    report = Indexer(collection, minilm).index_paths([folder], progress=False)
    yield collection, report
    catalog.close()


def test_every_format_is_indexed_without_a_warning(every_format):
    _, report = every_format
    assert report.skipped == 0 and report.warnings == [], report.warnings
    assert report.added == len(FACTS) + 2  # the e-mail's attachment and the mailbox's second message


@pytest.mark.parametrize("name", list(FACTS))
def test_a_fact_from_each_format_is_found_first(every_format, minilm, name):
    collection, _ = every_format
    question, fact = FACTS[name]
    result = search(collection, minilm, question, top_k=3, rerank=False)  # the default mode: hybrid
    first = result.hits[0]
    assert Path(first.source).name == name, [(h.source, h.text[:40]) for h in result.hits]
    assert fact in first.text


def test_headings_slides_and_sheets_become_heading_paths(every_format, minilm):
    collection, _ = every_format
    by_name = {}
    for name, (question, fact) in FACTS.items():
        by_name[name] = next(h for h in search(collection, minilm, question, top_k=5, mode="lexical").hits if fact in h.text)
    assert by_name["handbook.docx"].heading_path == ["Security", "Visitors"]
    assert by_name["roadmap.pptx"].heading_path == ["Telescopes"] and by_name["roadmap.pptx"].metadata["slide"] == 2
    assert by_name["inventory.xlsx"].heading_path == ["Stock"] and "count: 12" in by_name["inventory.xlsx"].text
    assert by_name["minutes.odt"].heading_path == ["Council minutes", "Transport"]
    assert by_name["novel.epub"].heading_path == ["The crossing"]
    assert by_name["guide.rst"].heading_path == ["Kitchen guide", "Scales"]
    assert by_name["frobnicate.1.gz"].heading_path == ["DESCRIPTION"]
    assert by_name["invoice.eml"].metadata["subject"] == "Kayak rental" and by_name["invoice.eml"].title == "Kayak rental"


def test_csv_rows_keep_their_header(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("name;role\nAda;engineer\nGrace;admiral\n")
    [doc] = load_file(path, "t").documents
    assert doc.text == "name: Ada; role: engineer\n\nname: Grace; role: admiral"


def test_email_attachments_go_through_the_loaders(tmp_path):
    from tests.format_factory import write_eml

    docs = load_file(write_eml(tmp_path / "m.eml"), "m").documents
    assert [d.doc_id for d in docs] == ["m", "m#boats.csv"]
    assert docs[1].metadata["email_subject"] == "Kayak rental" and "boat: kayak" in docs[1].text
    assert all(d.source == str(tmp_path / "m.eml") for d in docs)


def test_man_page_roff_renders_to_headed_text():
    title, text = roff_to_markdown('.TH LS 1\n.SH NAME\nls \\- list\n.SH OPTIONS\n.TP\n.BR \\-a " , " \\-\\-all\nshow \\fBall\\fR\n.SS "More"\n.Fl l\nlong\n')
    assert title == "LS(1)"
    assert text == "# NAME\n\nls - list\n\n# OPTIONS\n\n-a , --all show all\n\n## More\n\n-l long"


def test_text_sniffing():
    assert looks_like_text("plain words\n".encode()) and looks_like_text("Grüße\n".encode("latin-1"))
    assert not looks_like_text(b"\x7fELF\x02\x01\x01\x00\x00") and not looks_like_text(b"")


def test_pdf_hits_and_citations_carry_their_page(tmp_path, catalog, tiny_embedder, tiny_embedder_path):
    from fpdf import FPDF

    from service.search.context import ScoredHit, TokenCounter, build_context

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in ["Cover page words.", "Second page about oats.", "Third page explains the zeppelin hangar."]:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(tmp_path / "manual.pdf"))
    collection = catalog.create(Manifest("pages", tiny_embedder_path, tiny_embedder.dimension, chunk_size=8, chunk_overlap=0))
    Indexer(collection, tiny_embedder).index_paths([tmp_path / "manual.pdf"], progress=False)
    [hit] = search(collection, tiny_embedder, "zeppelin hangar", top_k=1, mode="lexical").hits
    assert hit.metadata["page"] == 3 and "page_starts" not in hit.metadata
    block = build_context([ScoredHit(hit, 0.9)], TokenCounter(tiny_embedder.tokenizer), 200)
    assert block.citations[0].page == 3 and "p. 3" in block.context.splitlines()[0]


# bad input: one warning each, as it happens; counted as skipped; the rest indexed ------------------------


def test_bad_files_cost_one_warning_each_and_the_rest_is_indexed(tmp_path, catalog, tiny_embedder, tiny_embedder_path, monkeypatch):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a_locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)  # what Office writes when encrypted
    (folder / "b_corrupt.pptx").write_bytes(b"PK\x03\x04 truncated")
    write_xlsx(folder / "c_huge.xlsx", rows=50)
    monkeypatch.setattr(office, "MAX_SPREADSHEET_BYTES", 1000)
    (folder / "d_broken.eml").write_bytes(BROKEN_EML)
    (folder / "e_notebook.ipynb").write_text("{ this is not json")
    (folder / "f_fake.gz").write_text("plain text pretending")
    (folder / "g_binary").write_bytes(bytes(range(256)) * 4)
    (folder / "h_good.txt").write_text("The ferry timetable changes in spring.\n")
    events = []
    collection = catalog.create(Manifest("bad", tiny_embedder_path, tiny_embedder.dimension, chunk_size=32, chunk_overlap=4))
    report = Indexer(collection, tiny_embedder, batch_documents=1).index_paths(
        [folder], progress=False, on_warning=lambda w: events.append(("warning", w)),
        on_progress=lambda p: events.append(("progress", p.report.added)),
    )  # fmt: skip
    warnings = [w for kind, w in events if kind == "warning"]
    expected = ["a_locked.docx", "b_corrupt.pptx", "c_huge.xlsx", "d_broken.eml", "e_notebook.ipynb", "f_fake.gz", "g_binary"]
    assert [next(name for name in expected if name in w) for w in warnings] == expected, warnings
    assert "password-protected" in warnings[0] and "MiB" in warnings[2] and "MIME part" in warnings[3]
    assert "not valid JSON" in warnings[4] and "not gzip" in warnings[5] and "not text" in warnings[6]
    assert report.skipped == 7 and report.added == 2  # the good file and the e-mail's readable part
    first_added = next(i for i, (kind, added) in enumerate(events) if kind == "progress" and added)
    assert events.index(("warning", warnings[0])) < first_added  # reported as it happened, not at the end


def test_a_sheet_past_the_row_limit_is_cut_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(office, "MAX_SHEET_ROWS", 5)
    loaded = load_file(write_xlsx(tmp_path / "big.xlsx", rows=20), "big")
    assert "more than 5 rows" in loaded.warnings[0] and loaded.documents[0].text.count("item:") == 5


def test_corrupt_office_parts_are_a_load_error(tmp_path):
    import zipfile

    path = tmp_path / "x.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<not xml")
    with pytest.raises(LoadError, match="x.docx"):
        load_file(path, "x")


def test_non_notebook_json_is_refused(tmp_path):
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps({"cells": "nope"}))
    with pytest.raises(LoadError, match="no list of cells"):
        load_file(path, "n")


def test_gzip_member_uses_its_own_format(tmp_path):
    path = tmp_path / "notes.md.gz"
    path.write_bytes(gzip.compress(b"# Notes\n\nRemember the milk.\n"))
    [doc] = load_file(path, "n").documents
    assert doc.format == "markdown" and doc.title == "Notes" and doc.source == str(path)


def test_docx_and_pptx_keep_titles(tmp_path):
    [doc] = load_file(write_docx(tmp_path / "h.docx"), "h").documents
    assert doc.title == "Staff handbook" and "room: library; floor: third" in doc.text
    [deck] = load_file(write_pptx(tmp_path / "r.pptx"), "r").documents
    assert deck.metadata["slides"] == 2 and deck.text.count("Telescopes") == 1 and "mirror supplier" in deck.text


def test_pdf_records_page_starts(tmp_path):
    [doc] = load_file(write_pdf(tmp_path / "one.pdf", ["Only page."]), "one").documents
    assert doc.metadata["page_starts"] == [0]


def test_documentation_names_are_text_whatever_their_suffix(tmp_path):
    (tmp_path / "README.Debian").write_text("Debian notes about the package.\n")
    [doc] = load_file(tmp_path / "README.Debian", "r").documents
    assert doc.text.startswith("Debian notes") and doc.metadata["format"] == "text"
    with pytest.raises(LoadError, match="unsupported file type"):
        load_file(tmp_path / "photo.gif", "p")
