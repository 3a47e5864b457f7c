"""OCR for images and for PDF pages without a text layer: optional, off unless QUARRY_OCR=auto.

Tesseract does the reading (Debian's `tesseract-ocr`, called through the pytesseract wrapper of the `ocr`
extra). The switch is process-wide, set from the settings when a Runtime is built (configure_ocr): it
decides both which files a folder scan picks up (images only with OCR on) and what the loaders do with
a scanned PDF page. With OCR on but the package or the program missing, configure_ocr returns one line
saying what to install, and images are left out as if OCR were off.
"""

from __future__ import annotations

import io
import shutil
import threading
from dataclasses import dataclass

from indexer.errors import LoadError
from indexer.formats.base import Loaded, Source

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"})
OCR_INSTALL = "pip install 'quarry[ocr]' and sudo apt-get install -y tesseract-ocr (plus tesseract-ocr-LANG for other languages)"
MAX_PIXELS = 50_000_000  # a larger image is refused before tesseract sees it (decompression bombs)


@dataclass(frozen=True)
class OcrConfig:
    mode: str = "off"  # off | auto
    languages: str = "eng"  # tesseract's -l: eng, deu, eng+fra ...
    problem: str = ""  # why OCR cannot run although it is on; empty when it can

    @property
    def active(self) -> bool:
        return self.mode != "off" and not self.problem


_config = OcrConfig()
_lock = threading.Lock()  # tesseract is a subprocess per image; one at a time keeps memory flat on small machines


def missing_parts(languages: str = "eng") -> str:
    """What is missing for OCR here, as one line with the commands; empty when nothing is."""
    try:
        import pytesseract
    except ImportError:
        return f"OCR needs the pytesseract package and the tesseract program: {OCR_INSTALL}"
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        return f"OCR needs the tesseract program (not found on PATH): {OCR_INSTALL}"
    try:
        installed = set(pytesseract.get_languages(config=""))
    except Exception as exc:  # noqa: BLE001 - a broken install must cost one line, not the start-up
        return f"tesseract did not run ({type(exc).__name__}: {exc}): {OCR_INSTALL}"
    absent = [lang for lang in languages.split("+") if lang and lang not in installed]
    if absent:
        return f"tesseract has no data for {', '.join(absent)}: sudo apt-get install -y " + " ".join(f"tesseract-ocr-{a}" for a in absent)
    return ""


def configure_ocr(mode: str, languages: str = "eng") -> str:
    """Set the process-wide OCR switch; returns why OCR cannot run although it is on ("" when it can or is off)."""
    global _config
    problem = missing_parts(languages) if mode != "off" else ""
    _config = OcrConfig(mode, languages, problem)
    return problem


def ocr_config() -> OcrConfig:
    return _config


def image_text(data: bytes, name: str) -> str:
    """The text tesseract reads in one image (any format Pillow opens)."""
    import pytesseract
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise LoadError(f"{name}: {image.width}x{image.height} pixels, too large to OCR (limit {MAX_PIXELS:,})")
        image.load()
    except LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for a corrupt image
        raise LoadError(f"{name}: not a readable image ({type(exc).__name__}: {exc})") from exc
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    with _lock:
        return pytesseract.image_to_string(image, lang=_config.languages).strip()


def load_image(source: Source) -> Loaded:
    """An image as one document (called with OCR on; indexer.formats.load_source refuses images otherwise)."""
    text = image_text(source.data, source.name)
    if not text:
        raise LoadError(f"{source.name}: OCR found no text in this image")
    return Loaded([source.document(text, metadata={"format": "image", "ocr": True})])


def page_text(page, name: str) -> str:
    """A PDF page without a text layer: the text of the images on it (a scan is one image per page)."""
    parts = []
    for image in page.images:
        text = image_text(image.data, f"{name} ({image.name})")
        if text:
            parts.append(text)
    return "\n\n".join(parts)
