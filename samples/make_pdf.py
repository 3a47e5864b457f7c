"""Regenerate samples/corpus/tea-guide.pdf (a text-layer PDF for the sample corpus). Needs fpdf2 (dev extra)."""

from pathlib import Path

from fpdf import FPDF

PARAGRAPHS = [
    "Green tea is made from leaves that are heated soon after picking, which stops oxidation and keeps "
    "them green. Brew it with water at 70 to 80 degrees Celsius for two to three minutes; boiling water "
    "makes green tea bitter.",
    "Black tea is fully oxidised before drying. It takes boiling water and three to five minutes of "
    "steeping. Oolong sits between green and black tea and can be steeped several times.",
    "A cup of black tea has roughly half the caffeine of a cup of coffee. Herbal infusions such as "
    "peppermint or chamomile are not made from the tea plant and contain no caffeine.",
]


def main() -> None:
    pdf = FPDF()
    pdf.set_title("A Short Guide to Tea")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "A Short Guide to Tea", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for paragraph in PARAGRAPHS:
        pdf.multi_cell(0, 6, paragraph)
        pdf.ln(4)
    out = Path(__file__).parent / "corpus" / "tea-guide.pdf"
    pdf.output(str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
