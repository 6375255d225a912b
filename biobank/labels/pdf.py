"""Labels as PDF (reportlab): one label a page for a thermal roll, or a sheet laid out
for a laser printer. Print at 100 % ("actual size"): the page is the label stock."""

from __future__ import annotations

from io import BytesIO

from reportlab.graphics import renderPDF
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from .barcodes import CODE128, drawing
from .layouts import Label, Stock

FONT = "Helvetica"


def labels_pdf(labels: list[Label], stock: Stock, *, title: str = "ExoTrack labels") -> bytes:
    buffer = BytesIO()
    page = stock.page_mm or (stock.width_mm, stock.height_mm)
    canvas = Canvas(buffer, pagesize=(page[0] * mm, page[1] * mm), pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("ExoTrack")
    for index, label in enumerate(labels):
        slot = index % stock.per_page
        if index and slot == 0:
            canvas.showPage()
        column, row = slot % stock.across, slot // stock.across
        x = (stock.margin_mm[0] + column * (stock.width_mm + stock.gap_mm[0])) * mm
        top = page[1] - stock.margin_mm[1] - row * (stock.height_mm + stock.gap_mm[1])
        _draw_label(canvas, label, stock, x, (top - stock.height_mm) * mm)
    if not labels:
        canvas.setFont(FONT, 6)
        canvas.drawString(1 * mm, 1 * mm, "no labels")
    canvas.save()
    return buffer.getvalue()


def _draw_label(canvas: Canvas, label: Label, stock: Stock, x: float, y: float) -> None:
    """The barcode on the left (Data Matrix) or on top (Code 128), the text beside or under."""
    width, height, pad = stock.width_mm * mm, stock.height_mm * mm, 1 * mm
    code = drawing(label.code, symbology=stock.symbology, bar_height=30)
    if stock.symbology == CODE128:
        box_w, box_h = width - 2 * pad, height * 0.5
        text_x, text_top = x + pad, y + height - pad - box_h - 1.0 * mm
    else:
        box_w = box_h = height - 2 * pad
        text_x, text_top = x + pad + box_w + 1 * mm, y + height - pad
    scale = min(box_w / code.width, box_h / code.height)
    canvas.saveState()
    canvas.translate(x + pad, y + height - pad - code.height * scale)
    canvas.scale(scale, scale)
    renderPDF.draw(code, canvas, 0, 0)
    canvas.restoreState()
    lines = [label.code, *label.lines]
    room = (text_top - y - pad) / len(lines)
    size = max(3.5, min(7.0, room / 1.15))
    text_width = x + width - pad - text_x
    baseline = text_top - size
    for number, line in enumerate(lines):
        if baseline < y:
            break  # no room: the code itself is always printed first
        font = FONT + "-Bold" if number == 0 else FONT
        # A long line is set smaller to fit the label rather than run off its edge.
        fitted = min(size, size * text_width / max(1e-6, canvas.stringWidth(line, font, size)))
        canvas.setFont(font, fitted)
        canvas.drawString(text_x, baseline, line)
        baseline -= size * 1.15
