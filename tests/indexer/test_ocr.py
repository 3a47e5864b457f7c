"""OCR of images and scanned PDF pages (QUARRY_OCR=auto), on images the tests draw themselves.

The `ocr` tests need Debian's tesseract-ocr and the pytesseract package (dev extra); `make test` installs the
program through .ci/system-deps, as CI does. Missing either is a failure that says how to fix it, never a skip.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from indexer.formats import is_supported, load_file
from indexer.formats.ocr import configure_ocr, ocr_config
from tests.cli_runner import run

FACT = "The lighthouse keeper feeds seventeen cats"
PDF_FACT = "Zeppelin hangars were built from spruce"


@pytest.fixture(autouse=True)
def ocr_off_afterwards():
    yield
    configure_ocr("off")  # the switch is process-wide: leave it as the other tests expect


def require_tesseract() -> None:
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        pytest.fail("the pytesseract package is missing: pip install -e '.[dev]' (or '.[ocr]')")
    if shutil.which("tesseract") is None:
        pytest.fail("tesseract not found: sudo apt-get install -y tesseract-ocr (make system-deps does it)")


def draw(text: str):
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1400, 100 + 70 * text.count("\n")), 255)
    ImageDraw.Draw(image).multiline_text((30, 30), text, fill=0, font=ImageFont.load_default(size=44), spacing=20)
    return image


def write_scan_pdf(path: Path) -> Path:
    """Two pages that are only pictures of text, as a scanner makes them (no text layer)."""
    first = draw("Cover of the scanned report\nwritten for the archive of the harbour\nby the committee on old buildings")
    second = draw(PDF_FACT)
    first.save(path, "PDF", resolution=150, save_all=True, append_images=[second])
    return path


@pytest.mark.ocr
def test_images_and_scanned_pdf_pages_are_read_and_found(settings_env, tmp_path, capsys, monkeypatch):
    require_tesseract()
    folder = tmp_path / "scans"
    folder.mkdir()
    draw(FACT).save(folder / "note.png")
    write_scan_pdf(folder / "report.pdf")
    monkeypatch.setenv("QUARRY_OCR", "auto")
    monkeypatch.setenv("QUARRY_CHUNK_SIZE", "8")  # a chunk per page, so the hit can say which page
    monkeypatch.setenv("QUARRY_CHUNK_OVERLAP", "0")
    code, out, err = run(capsys, "index", str(folder), "-c", "scans", "--no-progress", "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == 2 and "warning" not in err
    code, out, _ = run(capsys, "search", "lighthouse keeper cats", "-c", "scans", "--mode", "lexical", "--json")
    assert json.loads(out)["hits"][0]["doc_id"].endswith("note.png")
    code, out, _ = run(capsys, "search", "zeppelin spruce", "-c", "scans", "--mode", "lexical", "--json")
    top = json.loads(out)["hits"][0]
    assert top["doc_id"].endswith("report.pdf") and top["metadata"]["page"] == 2


@pytest.mark.ocr
def test_only_pages_without_text_are_ocred(tmp_path):
    require_tesseract()
    assert configure_ocr("auto") == ""
    [doc] = load_file(write_scan_pdf(tmp_path / "scan.pdf"), "scan").documents
    assert doc.metadata["ocr_pages"] == [1, 2] and "spruce" in doc.text.lower()
    [image] = load_file(_png(tmp_path), "note").documents
    assert "seventeen" in image.text.lower() and image.metadata["ocr"] is True


def _png(tmp_path: Path) -> Path:
    path = tmp_path / "note.png"
    draw(FACT).save(path)
    return path


def test_ocr_off_leaves_images_out_and_says_how_to_read_scans(settings_env, tmp_path, capsys):
    folder = tmp_path / "scans"
    folder.mkdir()
    draw(FACT).save(folder / "note.png")
    write_scan_pdf(folder / "report.pdf")
    (folder / "readme.txt").write_text("Some text so the run indexes something.")
    code, out, err = run(capsys, "index", str(folder), "-c", "scans", "--no-progress")
    assert code == 0 and "1 added" in out
    assert "ignored 1 file(s) of unsupported type '.png' (QUARRY_OCR=auto reads images)" in err
    assert "report.pdf: PDF has no text layer (scanned images?); QUARRY_OCR=auto reads scans" in err


def test_ocr_on_without_tesseract_is_one_warning_with_the_commands(settings_env, tmp_path, monkeypatch, caplog):
    import indexer.formats.ocr as ocr
    from service.runtime import Runtime
    from service.settings import load_settings

    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    monkeypatch.setenv("QUARRY_OCR", "auto")
    with caplog.at_level(logging.WARNING):
        Runtime(load_settings()).close()
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "apt-get install -y tesseract-ocr" in line and "pip install 'quarry[ocr]'" in line and "\n" not in line
    assert ocr_config().problem and not is_supported(tmp_path / "photo.png")
    with pytest.raises(Exception, match="tesseract-ocr"):
        load_file(_png(tmp_path), "note")  # named on the command line: one warning for that file, with the commands
