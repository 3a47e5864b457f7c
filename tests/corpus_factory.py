"""Small document folders that tests write themselves."""

from __future__ import annotations

from pathlib import Path


def write_pdf(path: Path, paragraphs: list[str], title: str = "") -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for paragraph in paragraphs:
        pdf.multi_cell(0, 6, paragraph)
        pdf.ln(3)
    pdf.output(str(path))
    return path


def write_image_only_pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 50, 50, style="F")  # drawn, no text layer
    pdf.output(str(path))
    return path


def write_mixed_corpus(root: Path) -> Path:
    """Four formats, one clear topic each."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "bread.md").write_text(
        "# Sourdough\n\nFeed the sourdough starter with flour and water every day.\n\n"
        "## Baking\n\nBake the bread in a hot oven until the crust is brown.\n"
    )
    (root / "bikes.html").write_text(
        "<html><head><title>Bike repair</title><script>var tracking = 1;</script></head><body>"
        "<h1>Fixing a flat tire</h1><p>Remove the wheel and patch the inner tube of the bicycle tire.</p>"
        "</body></html>"
    )
    (root / "planets.txt").write_text("Jupiter is the largest planet in the solar system.\n")
    write_pdf(root / "tea.pdf", ["Green tea should be brewed with water at about 80 degrees."], title="Tea")
    return root
