"""One small file of every format the loaders read, built here (no downloaded fixtures).

FACTS maps each file to a question and a sentence only that file holds, so a test can check that each
format's text reaches the index and is found first.
"""

from __future__ import annotations

import email.message
import gzip
import json
import mailbox
import zipfile
from pathlib import Path

FACTS: dict[str, tuple[str, str]] = {
    "handbook.docx": ("which badge colour do visitors wear", "Visitors wear an orange badge at the reception desk."),
    "roadmap.pptx": ("when does the glacier telescope launch", "The glacier telescope launches in the third quarter."),
    "inventory.xlsx": ("how many walrus figurines are in stock", "walrus figurine"),
    "birds.csv": ("which bird nests in the lighthouse", "puffin"),
    "minutes.odt": ("what did the council decide about the tram line", "The council approved extending the tram line to the harbour."),
    "novel.epub": ("who rowed across the frozen lake", "Captain Mirela rowed across the frozen lake at dawn."),
    "invoice.eml": ("who pays the invoice for the kayak rental", "The kayak rental invoice is paid by the rowing club."),
    "list.mbox": ("when is the volcano field trip", "The volcano field trip leaves on Friday morning."),
    "guide.rst": ("how do I calibrate the saffron scale", "Calibrate the saffron scale with the brass weight."),
    "analysis.ipynb": ("what does the notebook say about penguin migration", "Penguin migration peaks in late November."),
    "frobnicate.1.gz": ("what does frobnicate do with the sprocket", "frobnicate polishes every sprocket in the gearbox."),
    "changelog.Debian.gz": ("which release fixed the marmalade crash", "Fix the marmalade crash on startup."),
    "FAQ": ("can hamsters use the treadmill", "Hamsters may use the treadmill only on Sundays."),
    "tide.py": ("function that predicts the tide", "def predict_tide_height(moon_phase):"),
    "lantern.js": ("javascript lantern brightness", "function lanternBrightness(lumens)"),
    "orchard.ts": ("typescript apple orchard harvest", "export function harvestOrchard(apples: number)"),
    "quarry.go": ("go function that splits granite", "func SplitGranite(block int) int"),
    "Violin.java": ("java class that tunes a violin", "public class ViolinTuner"),
    "weather.json": ("thunderstorm threshold setting", '"thunderstorm_threshold": 42'),
    "deploy.yaml": ("how many replicas of the pelican service", "pelican_replicas: 7"),
    "build.toml": ("which compiler optimisation level for the zeppelin build", "zeppelin_optimisation = 3"),
    "catalog.xml": ("xml record of the cobalt teapot", "<item>cobalt teapot</item>"),
}


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Staff handbook"
    document.add_heading("Security", 1)
    document.add_heading("Visitors", 2)
    document.add_paragraph(FACTS["handbook.docx"][1])
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "room", "floor"
    table.cell(1, 0).text, table.cell(1, 1).text = "library", "third"
    document.add_heading("Parking", 1)
    document.add_paragraph("Bicycles go in the basement rack.")
    document.save(str(path))
    return path


def write_pptx(path: Path) -> Path:
    from pptx import Presentation

    deck = Presentation()
    for title, body in [("Overview", "Budget and staffing for the year."), ("Telescopes", FACTS["roadmap.pptx"][1])]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.slides[1].notes_slide.notes_text_frame.text = "Mention the mirror supplier."
    deck.save(str(path))
    return path


def write_xlsx(path: Path, rows: int = 3) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Stock"
    sheet.append(["item", "count", "shelf"])
    sheet.append(["walrus figurine", 12, "B4"])
    for i in range(rows - 1):
        sheet.append([f"spare part {i}", i, "C1"])
    book.create_sheet("Suppliers").append(["name", "city"])
    book.save(str(path))
    return path


def write_csv(path: Path) -> Path:
    path.write_text("bird,nest,colour\npuffin,lighthouse cliff,black and white\nheron,reed bed,grey\n")
    return path


def _zip(path: Path, members: dict[str, str], mimetype: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), mimetype)  # stored first and uncompressed, as the formats ask
        for name, text in members.items():
            archive.writestr(name, text, compress_type=zipfile.ZIP_DEFLATED)
    return path


def write_odt(path: Path) -> Path:
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')  # fmt: skip
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} office:version="1.2">'
        "<office:body><office:text>"
        '<text:h text:outline-level="1">Council minutes</text:h>'
        '<text:h text:outline-level="2">Transport</text:h>'
        f"<text:p>{FACTS['minutes.odt'][1]}</text:p>"
        "<text:p>Next<text:s/>meeting<text:tab/>in May.</text:p>"
        "</office:text></office:body></office:document-content>"
    )
    meta = ('<?xml version="1.0" encoding="UTF-8"?><office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta><dc:title>Minutes</dc:title></office:meta></office:document-meta>')  # fmt: skip
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')  # fmt: skip
    return _zip(path, {"content.xml": content, "meta.xml": meta, "META-INF/manifest.xml": manifest}, "application/vnd.oasis.opendocument.text")


def write_epub(path: Path) -> Path:
    container = ('<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                 '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>')  # fmt: skip
    opf = ('<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
           '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>The Frozen Lake</dc:title></metadata>'
           '<manifest><item id="c1" href="text/one.xhtml" media-type="application/xhtml+xml"/>'
           '<item id="c2" href="text/two.xhtml" media-type="application/xhtml+xml"/></manifest>'
           '<spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>')  # fmt: skip
    chapter = '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{0}</title></head><body><h1>{0}</h1><p>{1}</p></body></html>'
    return _zip(path, {
        "META-INF/container.xml": container, "OEBPS/content.opf": opf,
        "OEBPS/text/one.xhtml": chapter.format("Winter", "Snow covered the village."),
        "OEBPS/text/two.xhtml": chapter.format("The crossing", FACTS["novel.epub"][1]),
    }, "application/epub+zip")  # fmt: skip


def message(subject: str, body: str, attachment: tuple[str, bytes] | None = None) -> email.message.EmailMessage:
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Ada <ada@example.org>", "club@example.org", subject
    msg["Date"], msg["Message-ID"] = "Tue, 01 Dec 2026 10:00:00 +0000", f"<{abs(hash(subject))}@example.org>"
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment[1], maintype="text", subtype="csv", filename=attachment[0])
    return msg


def write_eml(path: Path) -> Path:
    attachment = ("boats.csv", b"boat,seats\nkayak,1\ncanoe,2\n")
    path.write_bytes(message("Kayak rental", FACTS["invoice.eml"][1], attachment).as_bytes())
    return path


def write_mbox(path: Path) -> Path:
    box = mailbox.mbox(str(path))
    box.add(message("Field trips", FACTS["list.mbox"][1]))
    box.add(message("Lunch", "Soup is served at noon."))
    box.flush()
    box.close()
    return path


def write_rst(path: Path) -> Path:
    path.write_text(
        "Kitchen guide\n=============\n\nIntro text.\n\nScales\n------\n\n"
        f"{FACTS['guide.rst'][1]}\n\n.. code-block:: python\n\n   # not a heading\n   weigh()\n\n"
        "Use :func:`weigh` for small amounts.\n"
    )
    return path


def write_ipynb(path: Path) -> Path:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Bird study\n", "\n", FACTS["analysis.ipynb"][1]]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": [], "source": "# load the counts\ncounts = read()"},
    ]
    notebook = {"cells": cells, "metadata": {"kernelspec": {"language": "python", "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook))
    return path


def write_man(path: Path) -> Path:
    roff = (
        '.\\" a comment\n.TH FROBNICATE 1 "2026" "tools 1.0"\n.SH NAME\nfrobnicate \\- polish gears\n'
        ".SH DESCRIPTION\n.B frobnicate\npolishes every sprocket in the gearbox.\n.SH OPTIONS\n.TP\n"
        ".BR \\-f \", \" \\-\\-force\nPolish even when the gearbox is \\fBwarm\\fR.\n"
    )
    path.write_bytes(gzip.compress(roff.encode()))
    return path


def write_changelog(path: Path) -> Path:
    text = f"tool (1.2-1) unstable; urgency=medium\n\n  * {FACTS['changelog.Debian.gz'][1]}\n\n -- Ada <ada@example.org>  Tue, 01 Dec 2026\n"
    path.write_bytes(gzip.compress(text.encode()))
    return path


_SOURCES = {
    "tide.py": '"""Tides."""\n\n\n# the moon drives it\ndef predict_tide_height(moon_phase):\n    return moon_phase * 2\n',
    "lantern.js": "// lamps\nfunction lanternBrightness(lumens) {\n  return lumens / 10;\n}\n",
    "orchard.ts": "export function harvestOrchard(apples: number): number {\n  return apples * 2;\n}\n",
    "quarry.go": "package quarry\n\n// SplitGranite cuts a block.\nfunc SplitGranite(block int) int { return block / 2 }\n",
    "Violin.java": "public class ViolinTuner {\n  int tune(int string) { return string; }\n}\n",
    "weather.json": '{"thunderstorm_threshold": 42, "units": "mm"}\n',
    "deploy.yaml": "# deployment\npelican_replicas: 7\nregion: north\n",
    "build.toml": "[build]\nzeppelin_optimisation = 3\n",
    "catalog.xml": "<?xml version='1.0'?>\n<catalog><item>cobalt teapot</item></catalog>\n",
}


def write_every_format(root: Path) -> Path:
    """A folder holding one file of each format in FACTS."""
    root.mkdir(parents=True, exist_ok=True)
    writers = {
        "handbook.docx": write_docx, "roadmap.pptx": write_pptx, "inventory.xlsx": write_xlsx, "birds.csv": write_csv,
        "minutes.odt": write_odt, "novel.epub": write_epub, "invoice.eml": write_eml, "list.mbox": write_mbox,
        "guide.rst": write_rst, "analysis.ipynb": write_ipynb, "frobnicate.1.gz": write_man,
        "changelog.Debian.gz": write_changelog,
    }  # fmt: skip
    for name, write in writers.items():
        write(root / name)
    (root / "FAQ").write_text(f"Frequently asked\n\n{FACTS['FAQ'][1]}\n")
    for name, text in _SOURCES.items():
        (root / name).write_text(text)
    return root


# an e-mail whose second part names a character set that does not exist
BROKEN_EML = (
    b'From: a@example.org\nTo: b@example.org\nSubject: otters\nMIME-Version: 1.0\n'
    b'Content-Type: multipart/mixed; boundary="XX"\n\n--XX\nContent-Type: text/plain; charset="utf-8"\n\n'
    b'The good part about otters.\n--XX\nContent-Type: text/plain; charset="no-such-charset"\n\nbroken\n--XX--\n'
)
