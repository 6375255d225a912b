"""Roche LightCycler 480 "Sample Information" export: a plate layout, not results.

Its columns are 'Section:Field' names (General:Pos, General:Sample Name, General:Target
Name ...). It carries no Cq at all, so it is reported under its own format name and
every well is flagged 'layout_only': an importer must not read its None Cq as
"undetermined".
"""

from __future__ import annotations

from .base import LAYOUT_ONLY, ExportParseError, ParsedExport
from .decoding import NumberStyle, decode_export
from .positions import infer_plate_size
from .tables import (
    Header,
    WellColumns,
    find_header,
    head_has_header,
    lines_after,
    table_rows,
    text_metadata,
    well_from_row,
)

FORMAT = "lc480_sample_info"
INSTRUMENT = "Roche LightCycler 480"
_HEADER_SEARCH_LINES = 5


def _is_layout_header(header: Header) -> bool:
    return header.has("General:Pos") and header.has("General:Sample Name")


def sniff(data: bytes | str) -> bool:
    return head_has_header(data, _is_layout_header, lines=_HEADER_SEARCH_LINES)


def parse(data: bytes) -> ParsedExport:
    text = decode_export(data)
    header = find_header(text, _is_layout_header, delimiters=("\t",), stop=_HEADER_SEARCH_LINES)
    if header is None:
        raise ExportParseError(
            "no LightCycler 480 Sample Information header (General:Pos, General:Sample Name) "
            f"in the first {_HEADER_SEARCH_LINES} lines"
        )
    rows = table_rows(text, header)
    if not rows:
        raise ExportParseError("the header is not followed by any well", line=header.line)
    columns = WellColumns(
        position=header.require("General:Pos"),
        cq=None,
        sample=header.index("General:Sample Name"),
        target=header.index("General:Target Name"),
        dye=header.index("General:Filt. Comb."),
    )
    wells = tuple(
        well_from_row(row, header, columns, NumberStyle(), flags=(LAYOUT_ONLY,)) for row in rows
    )
    warnings = ["plate layout (Sample Information) export: it holds no Cq values"]
    if unread := lines_after(text, rows, header):
        warnings.append(f"{unread} non-blank lines after the table were not read")
    return ParsedExport(
        format=FORMAT,
        instrument=INSTRUMENT,
        wells=wells,
        plate_size=infer_plate_size(well.position for well in wells),
        metadata=text_metadata(text),
        warnings=tuple(warnings),
    )
