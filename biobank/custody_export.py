"""A tube's custody timeline as a document for an inspector: CSV and PDF.

Both carry the chain's verdict at the top (from biobank.selectors.custody), then
every event with who, when, where from and to, why, the volume change and the void
links. Text cells of the CSV are neutralised (analysis.csv_safety) so a reason typed
as a formula is shown by a spreadsheet, never run. reportlab is imported when a PDF
is asked for, not at start-up.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from xml.sax.saxutils import escape

from django.utils import timezone

from analysis.csv_safety import neutralise
from biobank.selectors.custody import CustodyTimeline, TimelineEntry

COLUMNS = (
    "Event",
    "When (UTC)",
    "What",
    "Who",
    "From",
    "To",
    "Volume change (µl)",
    "Why",
    "Voids event",
    "Voided by event",
    "Chain",
)


def entry_cells(entry: TimelineEntry) -> list[str]:
    event = entry.event
    return [
        str(event.pk),
        _utc(event.at),
        event.get_kind_display(),
        event.user.username if event.user_id else "—",
        event.from_label,
        event.to_label,
        f"{event.volume_change_ul:+}" if event.volume_change_ul else "",
        event.reason,
        str(event.voids_id or ""),
        str(entry.voided_by.pk) if entry.voided_by else "",
        entry.problem or "ok",
    ]


def _utc(moment) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _heading(timeline: CustodyTimeline) -> list[str]:
    aliquot = timeline.aliquot
    return [
        f"Custody timeline of aliquot {aliquot.barcode}",
        f"Draw {aliquot.draw}; now {aliquot.get_status_display().lower()}"
        + (f" at {aliquot.box.barcode}" if aliquot.box_id else ""),
        timeline.status,
        f"Generated {_utc(timezone.now())} UTC",
    ]


def timeline_csv(timeline: CustodyTimeline) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for line in _heading(timeline):
        writer.writerow([neutralise(line)])
    writer.writerow([])
    writer.writerow(COLUMNS)
    for entry in timeline.entries:
        writer.writerow([neutralise(cell) for cell in entry_cells(entry)])
    return out.getvalue()


def timeline_pdf(timeline: CustodyTimeline) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=7.5, leading=9)
    verdict = styles["Heading3"].clone(
        "verdict", textColor=colors.HexColor("#2e7d32" if timeline.intact else "#b00020")
    )
    out = io.BytesIO()
    barcode = timeline.aliquot.barcode
    document = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"Custody timeline of aliquot {barcode}",
        author="ExoTrack",
    )
    title, draw_line, status, generated = _heading(timeline)
    story = [
        Paragraph(escape(title), styles["Title"]),
        Paragraph(escape(draw_line), styles["Normal"]),
        Paragraph(escape(status), verdict),
        Paragraph(escape(generated), styles["Normal"]),
        Spacer(1, 4 * mm),
    ]
    rows = [[Paragraph(f"<b>{escape(name)}</b>", cell) for name in COLUMNS]]
    for entry in timeline.entries:
        texts = [escape(text) for text in entry_cells(entry)]
        if entry.voided_by:  # struck through, as on the tube's page
            texts = [f"<strike>{text}</strike>" for text in texts[:-3]] + texts[-3:]
        rows.append([Paragraph(text, cell) for text in texts])
    widths = [12, 28, 22, 20, 30, 30, 18, 58, 14, 14, 27]
    table = Table(rows, colWidths=[w * mm for w in widths], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#d7dee6")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4eaf0")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    for row, entry in enumerate(timeline.entries, start=1):
        if entry.problem:
            style.append(("BACKGROUND", (0, row), (-1, row), colors.HexColor("#fde7ea")))
    table.setStyle(TableStyle(style))
    story.append(table)
    document.build(story)
    return out.getvalue()
