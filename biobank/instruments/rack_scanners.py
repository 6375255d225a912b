"""Readers for the files 2D-barcode rack scanners write: bytes in, a ``RackScan`` out.

A rack scanner photographs the bottom of a rack of 2D-coded tubes and writes one line
per position: the position and the tube's code, or a word saying there was no tube or
no code could be read. The readers differ in the words, the position style and where
they put the rack's own barcode (tests/fixtures/rack-scans/README.md says where each
layout comes from):

    azenta_fluidx   no header; "A1,FR05653780" (or "TR00012345,A1,FR05653780" with
                    the rack barcode on every row); "NO READ"; the rack barcode in
                    the file name when no row carries it
    thermo_matrix   a TXT trace: "Rack Base Name: 02498606", then "A01;  1034998087";
                    "No TrakMate" for an empty position
    thermo_visionmate  key lines ("Rack ID,...") then a "Position,Barcode" table in
                    column order (A01, B01, ...); "No Tube" / "No Read"
    ziath_dp5       key lines ("Container Barcode,...") then "Row,Column,Tube
                    Barcode,Decode Status" with numeric rows and columns

Nothing here touches the database. Each position is a tube code, EMPTY (the scanner
saw no tube) or UNREAD (a tube, or maybe a hole, whose code could not be read): an
unread position must never be taken for an empty one, since the tube recorded there
may well still be there. Anything ambiguous (a position twice, a tube twice, two rack
barcodes) is refused with the line and column, because the file is the only witness
of where 96 tubes are.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import PurePath

from .base import ExportParseError
from .decoding import decode_export
from .tables import header_key, split_fields

TUBE, EMPTY, UNREAD = "tube", "empty", "unread"
ROW_LETTERS = string.ascii_uppercase  # a box has up to 26 rows

# Words the readers write instead of a code (compared after header_key: case-folded).
EMPTY_WORDS = {"no tube", "notube", "empty", "no trakmate", "no_tube", "none", ""}
UNREAD_WORDS = {"no read", "noread", "no_read", "noscan", "no scan", "error", "failed"}
UNREAD_WORDS |= {"no code", "nocode", "unreadable", "not read", "????"}
# Ziath DP5's decodeStatus values (its remote API says EMPTY and SUCCESS).
STATUS_OK = {"success", "ok", "code ok", "read", "decoded"}

_POSITION = re.compile(r"([A-Za-z])\s*0*(\d{1,2})")
_NUMBER = re.compile(r"\d{1,3}")

# Column names, compared through header_key.
POSITION_HEADINGS = {"position", "tube position", "well", "location", "pos", "tube"}
POSITION_HEADINGS |= {"coordinate", "tube location", "rack position"}
BARCODE_HEADINGS = {"barcode", "tube barcode", "tube id", "code", "tube code", "2d barcode"}
BARCODE_HEADINGS |= {"sample barcode", "tubebarcode"}
RACK_HEADINGS = {"rack", "rack barcode", "rack id", "rackid", "rack base name"}
RACK_HEADINGS |= {"container barcode", "tube rack barcode", "rack code"}
ROW_HEADINGS = {"row", "tube row"}
COLUMN_HEADINGS = {"column", "col", "tube column"}
STATUS_HEADINGS = {"status", "decode status", "decodestatus", "read status"}


@dataclass(frozen=True)
class ScannedPosition:
    row: int  # 1-based
    column: int  # 1-based
    state: str  # TUBE | EMPTY | UNREAD
    code: str  # the tube's code; '' unless state is TUBE
    line: int  # the line of the file it was read from

    @property
    def label(self) -> str:
        return f"{ROW_LETTERS[self.row - 1]}{self.column}"


@dataclass(frozen=True)
class RackScan:
    vendor: str
    rack_barcode: str
    rack_barcode_source: str  # 'file' (a header line or a column) | 'file name'
    rows: int
    columns: int
    positions: tuple[ScannedPosition, ...]  # in file order, each position once

    def at(self, row: int, column: int) -> ScannedPosition | None:
        for position in self.positions:
            if (position.row, position.column) == (row, column):
                return position
        return None

    @property
    def codes(self) -> list[str]:
        return [position.code for position in self.positions if position.state == TUBE]

    def count(self, state: str) -> int:
        return sum(1 for position in self.positions if position.state == state)


def rack_scan_parse(data: bytes, *, filename: str, rows: int = 8, columns: int = 12) -> RackScan:
    """Read a rack scanner's file for a rack of `rows` x `columns`; raise
    ExportParseError naming the line (and column) of anything that cannot be read or
    is ambiguous."""
    text = decode_export(data)
    lines = [(number, line) for number, line in text.numbered() if line.strip()]
    if any(_is_matrix_marker(line) for _, line in lines[:5]):
        vendor, rack, cells = _matrix_trace(lines)
    else:
        vendor, rack, cells = _delimited(lines)
    positions = _positions(cells, rows=rows, columns=columns, vendor=vendor)
    if rack:
        source = "file"
    else:
        rack, source = rack_barcode_from_filename(filename), "file name"
        if not rack:
            raise ExportParseError("the file names no rack barcode and neither does its file name")
    return RackScan(
        vendor=vendor,
        rack_barcode=rack,
        rack_barcode_source=source,
        rows=rows,
        columns=columns,
        positions=tuple(positions),
    )


def rack_barcode_from_filename(filename: str) -> str:
    """The rack barcode a file is named after: the name without folders and extension
    ('FR00012345.csv' -> 'FR00012345'), as FluidX/Azenta exports are saved."""
    name = PurePath(filename.replace("\\", "/")).name
    return (name.rsplit(".", 1)[0] if "." in name else name).strip()


# (line, cell column, raw position, raw code or word, status or '') for each data row
_Cell = tuple[int, int, str, str, str]


def _is_matrix_marker(line: str) -> bool:
    return line.lstrip().startswith(("Date & time of Trace", "Rack Base Name:"))


def _matrix_trace(lines: list[tuple[int, str]]) -> tuple[str, str, list[_Cell]]:
    """Thermo Matrix trace TXT: marker lines, then 'A01;    1034998087'."""
    rack, cells = "", []
    for number, line in lines:
        stripped = line.strip()
        if stripped.startswith("Date & time of Trace"):
            continue
        if stripped.startswith("Rack Base Name:"):
            rack = _one_rack(rack, stripped.split(":", 1)[1].strip(), line=number, column=1)
            continue
        fields = split_fields(line, ";", line_number=number)
        if len(fields) != 2:
            raise ExportParseError(
                f"expected 'position; barcode', found {len(fields)} fields", line=number
            )
        cells.append((number, 2, fields[0].strip(), fields[1].strip(), ""))
    return "thermo_matrix", rack, cells


def _delimited(lines: list[tuple[int, str]]) -> tuple[str, str, list[_Cell]]:
    delimiter = _delimiter(lines)
    rows = [(number, split_fields(line, delimiter, line_number=number)) for number, line in lines]
    heading_at = next(
        (index for index, (_, fields) in enumerate(rows) if _heading_columns(fields) is not None),
        None,
    )
    rack, keys = "", {}
    if heading_at is None:
        return _headerless(rows)
    for number, fields in rows[:heading_at]:
        key = header_key(fields[0]) if fields else ""
        value = fields[1].strip() if len(fields) > 1 else ""
        keys[key] = value
        if key in RACK_HEADINGS and value:
            rack = _one_rack(rack, value, line=number, column=2)
    number, heading = rows[heading_at]
    found = _heading_columns(heading)
    assert found is not None
    position_at, row_at, column_at, code_at, rack_at, status_at = found
    names = {header_key(name) for name in heading}
    if row_at is not None and (status_at is not None or "container barcode" in keys):
        vendor = "ziath_dp5"
    elif "rack id" in keys or any(key.startswith("visionmate") for key in keys):
        vendor = "thermo_visionmate"
    elif "decode status" in names:
        vendor = "ziath_dp5"
    else:
        vendor = "generic"
    cells: list[_Cell] = []
    for number, fields in rows[heading_at + 1 :]:
        if rack_at is not None and _cell(fields, rack_at):
            rack = _one_rack(rack, _cell(fields, rack_at), line=number, column=rack_at + 1)
        if row_at is not None:
            where = f"{_cell(fields, row_at)}:{_cell(fields, column_at)}"
            at = row_at
        else:
            where, at = _cell(fields, position_at), position_at
        if not where.strip(":"):
            raise ExportParseError("no position on this row", line=number, column=at + 1)
        status = _cell(fields, status_at) if status_at is not None else ""
        cells.append((number, code_at + 1, where, _cell(fields, code_at), status))
    if vendor == "generic" and any(
        header_key(code) in {"no tube", "no read"} for _, _, _, code, _ in cells
    ):
        vendor = "thermo_visionmate"  # VisionMate's default words for the two cases
    return vendor, rack, cells


def _headerless(rows) -> tuple[str, str, list[_Cell]]:
    """Azenta/FluidX: 'A1,FR05653780' or 'TR00012345,A1,FR05653780', no heading."""
    rack, cells = "", []
    for number, fields in rows:
        values = [field.strip() for field in fields]
        while values and not values[-1] and len(values) > 2:
            values.pop()  # a trailing delimiter
        if len(values) == 2:
            cells.append((number, 2, values[0], values[1], ""))
        elif len(values) == 3:
            rack = _one_rack(rack, values[0], line=number, column=1)
            cells.append((number, 3, values[1], values[2], ""))
        else:
            raise ExportParseError(
                f"expected 'position,barcode' or 'rack,position,barcode', found "
                f"{len(values)} fields",
                line=number,
            )
    return "azenta_fluidx", rack, cells


def _heading_columns(fields) -> tuple | None:
    """(position, row, column, code, rack, status) indexes of a heading row, or None
    when the row is not one."""
    names = [header_key(field) for field in fields]

    def find(candidates):
        return next((index for index, name in enumerate(names) if name in candidates), None)

    code_at = find(BARCODE_HEADINGS)
    row_at, column_at = find(ROW_HEADINGS), find(COLUMN_HEADINGS)
    position_at = find(POSITION_HEADINGS - {"tube"} if code_at is None else POSITION_HEADINGS)
    if code_at is None or code_at == position_at:
        return None
    if position_at is None and (row_at is None or column_at is None):
        return None
    return position_at, row_at, column_at, code_at, find(RACK_HEADINGS), find(STATUS_HEADINGS)


def _delimiter(lines: list[tuple[int, str]]) -> str:
    sample = [line for _, line in lines[-10:]]
    counts = {d: sum(line.count(d) for line in sample) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cell(fields, index: int | None) -> str:
    if index is None or index >= len(fields):
        return ""
    return fields[index].strip()


def _one_rack(known: str, found: str, *, line: int, column: int) -> str:
    found = found.strip()
    if known and found and found != known:
        raise ExportParseError(
            f"rack barcode {found!r} differs from {known!r} given earlier in the file; "
            "one file is one rack",
            line=line,
            column=column,
        )
    return known or found


def _positions(cells: list[_Cell], *, rows: int, columns: int, vendor: str):
    seen: dict[tuple[int, int], int] = {}
    codes: dict[str, tuple[int, str]] = {}
    positions = []
    if not cells:
        raise ExportParseError("the file lists no rack positions")
    for line, column, where, value, status in cells:
        row, col = _position(where, rows=rows, columns=columns, line=line)
        if (row, col) in seen:
            raise ExportParseError(
                f"position {ROW_LETTERS[row - 1]}{col} is listed twice (first on line "
                f"{seen[row, col]})",
                line=line,
                column=1,
            )
        seen[row, col] = line
        state, code = _state(value, status)
        if state == TUBE:
            if code in codes:
                first_line, first_label = codes[code]
                raise ExportParseError(
                    f"tube {code} is read twice: here and at {first_label} (line "
                    f"{first_line}); a tube is in one position",
                    line=line,
                    column=column,
                )
            codes[code] = (line, f"{ROW_LETTERS[row - 1]}{col}")
        positions.append(ScannedPosition(row=row, column=col, state=state, code=code, line=line))
    return positions


def _state(value: str, status: str) -> tuple[str, str]:
    word = header_key(value)
    if status:
        said = header_key(status)
        if said == "empty" or said in EMPTY_WORDS - {""}:
            return EMPTY, ""
        if said not in STATUS_OK:
            return UNREAD, ""
    if word in EMPTY_WORDS:
        return EMPTY, ""
    if word in UNREAD_WORDS:
        return UNREAD, ""
    return TUBE, value.strip()


def _position(text: str, *, rows: int, columns: int, line: int) -> tuple[int, int]:
    """'A1', 'A01', 'a 1', '1:1' (row:column numbers) or a 1-based row-major index."""
    cleaned = text.strip()
    if ":" in cleaned:
        row_text, column_text = (part.strip() for part in cleaned.split(":", 1))
        if row_text.isdigit() and column_text.isdigit():
            row, column = int(row_text), int(column_text)
        elif len(row_text) == 1 and row_text.isalpha() and column_text.isdigit():
            row, column = ROW_LETTERS.find(row_text.upper()) + 1, int(column_text)
        else:
            raise ExportParseError(
                f"row {row_text!r} and column {column_text!r} are not a position", line=line
            )
    elif match := _POSITION.fullmatch(cleaned):
        row, column = ROW_LETTERS.find(match.group(1).upper()) + 1, int(match.group(2))
    elif _NUMBER.fullmatch(cleaned):
        index = int(cleaned)
        if not 1 <= index <= rows * columns:
            raise ExportParseError(
                f"position {index} is not on a rack of {rows * columns}", line=line, column=1
            )
        row, column = (index - 1) // columns + 1, (index - 1) % columns + 1
    else:
        raise ExportParseError(f"{cleaned!r} is not a rack position", line=line, column=1)
    if not (1 <= row <= rows and 1 <= column <= columns):
        raise ExportParseError(
            f"position {cleaned!r} is not on a rack of {rows} x {columns} "
            f"(A1-{ROW_LETTERS[rows - 1]}{columns})",
            line=line,
            column=1,
        )
    return row, column
