"""Bio-Rad CFX Manager / CFX Maestro "Quantification Cq Results" CSV.

The header starts with an empty cell (',Well,Fluor,Target,Content,Sample,...,Cq,...'),
wells are zero-padded ('A01') and a well has one row per fluorophore, so a FAM + VIC
plate gives two wells per position: all are kept, the importer chooses. A missing Cq
is 'N/A' (Manager) or 'NaN' (Maestro). European locales write ';' and decimal commas.
"""

from __future__ import annotations

import re

from .base import ExportParseError, ParsedExport
from .decoding import decode_export
from .positions import infer_plate_size
from .tables import (
    Header,
    WellColumns,
    find_header,
    head_has_header,
    lines_after,
    number_style,
    table_rows,
    text_metadata,
    well_from_row,
)

FORMAT = "biorad_cfx"
INSTRUMENT = "Bio-Rad CFX"

_DELIMITERS = (",", ";", "\t")
# Content of a standard well: 'Std', 'Std-01', 'Std-101' (CFX numbers the series).
_STANDARD = re.compile(r"std\b", re.IGNORECASE)
_HEADER_SEARCH_LINES = 30


def _is_cq_results_header(header: Header) -> bool:
    return header.has("Well") and header.has("Fluor") and header.has("Cq")


def sniff(data: bytes | str) -> bool:
    return head_has_header(
        data, _is_cq_results_header, delimiters=_DELIMITERS, lines=_HEADER_SEARCH_LINES
    )


def parse(data: bytes) -> ParsedExport:
    text = decode_export(data)
    header = find_header(
        text, _is_cq_results_header, delimiters=_DELIMITERS, stop=_HEADER_SEARCH_LINES
    )
    if header is None:
        raise ExportParseError(
            "no Bio-Rad CFX 'Quantification Cq Results' header (Well, Fluor, ..., Cq) "
            f"in the first {_HEADER_SEARCH_LINES} lines"
        )
    rows = table_rows(text, header)
    if not rows:
        raise ExportParseError("the header is not followed by any well", line=header.line)
    columns = WellColumns(
        position=header.require("Well"),
        cq=header.require("Cq"),
        sample=header.index("Sample"),
        target=header.index("Target"),
        dye=header.index("Fluor"),
        quantity=header.index("Starting Quantity (SQ)", "SQ"),
    )
    quantities = [header.index("Cq Mean"), columns.quantity]
    style = number_style(rows, columns.cq, quantities)
    content = header.index("Content")
    wells = tuple(
        well_from_row(
            row, header, columns, style, standard=_STANDARD.match(row.cell(content)) is not None
        )
        for row in rows
    )
    warnings = []
    if unread := lines_after(text, rows, header):
        warnings.append(f"{unread} non-blank lines after the table were not read")
    metadata = text_metadata(text) | {"delimiter": header.delimiter}
    return ParsedExport(
        format=FORMAT,
        instrument=INSTRUMENT,
        wells=wells,
        plate_size=infer_plate_size(well.position for well in wells),
        metadata=metadata,
        warnings=tuple(warnings),
    )
