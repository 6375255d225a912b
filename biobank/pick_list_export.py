"""A request's pick list as a PDF to take to the freezers: the tubes in the order they
are walked (freezer, rack, box, position), with a box to tick for each. reportlab is
imported when the PDF is asked for, not at start-up (as biobank/custody_export.py)."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.utils import timezone

COLUMNS = ("#", "Freezer", "Rack", "Box", "Position", "Tube", "Patient", "Timepoint", "µl", "✓")


def pick_list_rows(lines) -> list[list[str]]:
    return [
        [
            str(number),
            line.freezer,
            line.rack,
            f"{line.box} ({line.box_barcode})",
            line.position,
            line.aliquot.barcode,
            line.aliquot.draw.patient.study_id,
            line.aliquot.draw.timepoint,
            f"{line.aliquot.volume_ul}",
            "",
        ]
        for number, line in enumerate(lines, start=1)
    ]


def pick_list_pdf(retrieval, lines) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=8, leading=10)
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"Pick list {retrieval.code}",
        author="ExoTrack",
    )
    story = [
        Paragraph(escape(f"Pick list {retrieval.code}"), styles["Title"]),
        Paragraph(escape(f"Purpose: {retrieval.purpose}"), styles["Normal"]),
        Paragraph(
            escape(
                f"Requested by {retrieval.requested_by.username}; approved by "
                f"{retrieval.decided_by.username if retrieval.decided_by_id else '—'}; "
                f"{len(lines)} tube(s); printed {timezone.now():%Y-%m-%d %H:%M} UTC"
            ),
            styles["Normal"],
        ),
        Spacer(1, 4 * mm),
    ]
    rows = [[Paragraph(f"<b>{escape(name)}</b>", cell) for name in COLUMNS]]
    rows += [[Paragraph(escape(text), cell) for text in row] for row in pick_list_rows(lines)]
    widths = [8, 22, 16, 34, 14, 30, 20, 16, 14, 8]
    table = Table(rows, colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#d7dee6")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4eaf0")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story.append(table)
    document.build(story)
    return out.getvalue()
