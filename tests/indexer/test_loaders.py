import json

import pytest

from indexer.errors import LoadError
from indexer.loaders import decode_text, discover, html_to_markdown_text, load_file
from tests.corpus_factory import write_image_only_pdf, write_pdf


def test_text_file(tmp_path):
    path = tmp_path / "release_notes.txt"
    path.write_text("Version 2 adds search.\n")
    [doc] = load_file(path, "notes").documents
    assert (doc.doc_id, doc.text, doc.title, doc.format) == ("notes", "Version 2 adds search.\n", "release notes", "text")


def test_markdown_front_matter_and_title(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text("---\ntitle: The Guide\nteam: docs\n---\n# Heading\n\nBody text.\n")
    [doc] = load_file(path, "g").documents
    assert doc.title == "The Guide" and doc.metadata["team"] == "docs" and doc.format == "markdown"
    assert doc.text.startswith("# Heading")


def test_markdown_title_from_first_heading(tmp_path):
    path = tmp_path / "x.md"
    path.write_text("Intro line\n\n## Setup Steps\n\nDo this.\n")
    assert load_file(path, "x").documents[0].title == "Setup Steps"


def test_html_drops_scripts_and_keeps_headings():
    title, text = html_to_markdown_text(
        "<html><head><title>T</title><style>p{}</style></head><body><nav>menu</nav><h2>Part   one</h2>"
        "<p>Alpha <b>beta</b>.</p><script>evil()</script><p>Gamma</p></body></html>"
    )
    assert title == "T"
    assert "## Part one" in text and "Alpha beta." in text and "Gamma" in text
    assert "evil" not in text and "menu" not in text and "p{}" not in text


def test_html_file(tmp_path):
    path = tmp_path / "page.htm"
    path.write_text("<h1>Bikes</h1><p>Chains need oil.</p>")
    [doc] = load_file(path, "p").documents
    assert doc.title == "Bikes" and doc.format == "markdown" and "Chains need oil." in doc.text


def test_pdf_with_text_layer(tmp_path):
    path = write_pdf(tmp_path / "tea.pdf", ["Green tea likes cool water.", "Black tea likes boiling water."], title="Tea")
    [doc] = load_file(path, "tea").documents
    assert doc.title == "Tea" and "Green tea likes cool water." in doc.text and doc.metadata["pages"] == 1


def test_pdf_without_text_layer_is_refused(tmp_path):
    with pytest.raises(LoadError, match="no text layer"):
        load_file(write_image_only_pdf(tmp_path / "scan.pdf"), "scan")


def test_corrupt_pdf_is_refused(tmp_path):
    path = tmp_path / "bad.pdf"
    path.write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(LoadError):
        load_file(path, "bad")


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "blob.txt"
    path.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(LoadError, match="binary"):
        load_file(path, "blob")


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.md"
    path.write_text("   \n\n")
    with pytest.raises(LoadError, match="empty"):
        load_file(path, "empty")


def test_unsupported_extension(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG")
    with pytest.raises(LoadError, match="unsupported file type"):
        load_file(path, "photo")


def test_non_utf8_text_is_decoded_with_a_warning(tmp_path):
    path = tmp_path / "legacy.txt"
    path.write_bytes("Café crème".encode("cp1252"))
    loaded = load_file(path, "legacy")
    assert loaded.documents[0].text == "Café crème"
    assert "not valid UTF-8" in loaded.warnings[0]
    assert decode_text(b"\xff\xfe\xfd", "x")[0]  # never raises


def test_unreadable_file(tmp_path):
    path = tmp_path / "gone.txt"
    with pytest.raises(LoadError, match="cannot read"):
        load_file(path, "gone")


def test_beir_jsonl_reports_bad_lines_by_number(tmp_path):
    path = tmp_path / "corpus.jsonl"
    lines = [
        json.dumps({"_id": "d1", "title": "One", "text": "first", "metadata": {"k": 1}}),
        "{not json",
        json.dumps({"_id": "d2", "text": "second"}),
        json.dumps({"title": "no id"}),
        json.dumps([1, 2]),
    ]
    path.write_text("\n".join(lines) + "\n")
    loaded = load_file(path, "ignored")
    assert [d.doc_id for d in loaded.documents] == ["d1", "d2"]
    assert loaded.documents[0].metadata == {"k": 1} and loaded.documents[0].title == "One"
    assert [w.split(":")[1] for w in loaded.warnings] == ["2", "4", "5"]


def test_discover_walks_folders_skips_hidden_and_keeps_ids_stable(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("a")
    (root / "sub" / "b.txt").write_text("b")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("x")
    found = list(discover([root]))
    assert [s.doc_id for s in found] == ["docs/a.md", "docs/sub/b.txt"]
    assert all(not s.explicit and s.path.is_absolute() for s in found)
    [single] = discover([root / "a.md"])
    assert single.doc_id == "docs/a.md" and single.explicit  # the same file has the same id however it is named


def test_discover_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="path not found"):
        list(discover([tmp_path / "missing"]))
