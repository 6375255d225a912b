"""Roche LightCycler 480 Cp exports ("Abs Quant/2nd Derivative Max", "Fit Points").

Line 1 is a title ('Experiment: <name>  Selected Filter: <filter>'), line 2 the header
Include/Color/Pos/Name/Cp/Concentration/Standard/Status, then one row per well. An empty
Cp is a well without amplification; Include=False is a well the user excluded.
"""

from __future__ import annotations

import re

from .base import EXCLUDED_IN_FILE, ExportParseError, ParsedExport
from .decoding import NumberStyle, decode_export, decode_head
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

FORMAT = "lc480"
INSTRUMENT = "Roche LightCycler 480"

_TITLE = re.compile(
    r"\s*Experiment:\s*(?P<experiment>.*?)\s*Selected Filter:\s*(?P<filter>.*?)\s*",
    re.IGNORECASE,
)
_HEADER_SEARCH_LINES = 5


def _is_cp_header(header: Header) -> bool:
    return header.has("Pos") and header.has("Cp") and header.has("Include", "Name")


def sniff(data: bytes | str) -> bool:
    lines = decode_head(data)[:1]
    if lines and _TITLE.fullmatch(lines[0]):
        return True
    return head_has_header(data, _is_cp_header, lines=_HEADER_SEARCH_LINES)


def _is_standard(cell: str, style: NumberStyle) -> bool:
    """The 'Standard' column holds a standard's known concentration and 0 for every
    other well; text that is not a number is a standard whose quantity the reader then
    refuses with its line."""
    if not cell:
        return False
    try:
        return style.parse(cell) != 0
    except ValueError:
        return True


def parse(data: bytes) -> ParsedExport:
    text = decode_export(data)
    header = find_header(text, _is_cp_header, delimiters=("\t",), stop=_HEADER_SEARCH_LINES)
    if header is None:
        raise ExportParseError(
            "no LightCycler 480 header (Include, Color, Pos, Name, Cp ...) "
            f"in the first {_HEADER_SEARCH_LINES} lines"
        )
    metadata = text_metadata(text)
    title = _TITLE.fullmatch(text.lines[0])
    selected_filter = ""
    if title:
        metadata["experiment"] = title.group("experiment")
        selected_filter = metadata["filter"] = title.group("filter")

    rows = table_rows(text, header)
    if not rows:
        raise ExportParseError("the header is not followed by any well", line=header.line)
    columns = WellColumns(
        position=header.require("Pos"),
        cq=header.require("Cp", "Cq"),
        sample=header.index("Name", "Sample Name"),
        quantity=header.index("Standard"),
    )
    style = number_style(rows, columns.cq, [header.index("Concentration"), columns.quantity])
    include = header.index("Include")
    wells = tuple(
        well_from_row(
            row,
            header,
            columns,
            style,
            dye=selected_filter,
            flags=(EXCLUDED_IN_FILE,) if row.cell(include).casefold() == "false" else (),
            standard=_is_standard(row.cell(columns.quantity), style),
        )
        for row in rows
    )
    warnings = []
    if unread := lines_after(text, rows, header):
        warnings.append(f"{unread} non-blank lines after the table were not read")
    if style.decimal_comma:
        metadata["decimal_separator"] = ","
    return ParsedExport(
        format=FORMAT,
        instrument=INSTRUMENT,
        wells=wells,
        plate_size=infer_plate_size(well.position for well in wells),
        metadata=metadata,
        warnings=tuple(warnings),
    )
