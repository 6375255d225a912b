"""Delimited tables inside text exports: header lines, data rows, row -> well.

LightCycler, Applied Biosystems and Bio-Rad exports are all "some lines, then a
header, then one row per well". They differ in column names and delimiter only, so
finding the header, reading rows (short rows, quoted fields, a blank line ending the
table) and turning a row into a ``ParsedWell`` with located errors lives here once.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .base import UNDETERMINED, ExportParseError, ParsedWell
from .decoding import MAX_READINGS, DecodedText, NumberStyle, decode_head
from .positions import normalise_position
from .values import read_cq

# Cyrillic letters that look Latin: QuantStudio writes 'Cт' (U+0442) for 'CT' in some
# locales, and a column name must match however the software spelled it.
_HOMOGLYPHS = str.maketrans("тТсСеЕаАоОрРхХКкМмНВ", "tTcCeEaAoOpPxXKkMmHB")


def header_key(name: str) -> str:
    """Comparable form of a column name: Latin letters, case-folded, single spaces."""
    return " ".join(name.translate(_HOMOGLYPHS).casefold().split())


def split_fields(line: str, delimiter: str, *, line_number: int) -> tuple[str, ...]:
    """Fields of one line; quotes are honoured ('"RGB(176,23,31)"' is one field)."""
    try:
        return tuple(next(csv.reader([line], delimiter=delimiter), []))
    except csv.Error as error:
        raise ExportParseError(
            f"cannot split the line into fields: {error}", line=line_number
        ) from None


@dataclass(frozen=True)
class Row:
    """One data line split into fields; ``line`` is its 1-based line number."""

    line: int
    cells: tuple[str, ...]

    def cell(self, index: int | None) -> str:
        """Stripped field ``index`` (0-based); '' when the row is shorter."""
        if index is None or index >= len(self.cells):
            return ""
        return self.cells[index].strip()

    @property
    def blank(self) -> bool:
        return not any(cell.strip() for cell in self.cells)


@dataclass(frozen=True)
class Header:
    """A header line: column names as written plus where it was found."""

    line: int
    delimiter: str
    names: tuple[str, ...]

    def index(self, *aliases: str) -> int | None:
        """0-based index of the first column called any of ``aliases`` (first wins)."""
        wanted = {header_key(alias) for alias in aliases}
        for index, name in enumerate(self.names):
            if header_key(name) in wanted:
                return index
        return None

    def require(self, *aliases: str) -> int:
        index = self.index(*aliases)
        if index is None:
            wanted = " or ".join(repr(alias) for alias in aliases)
            raise ExportParseError(f"the header has no {wanted} column", line=self.line)
        return index

    def has(self, *aliases: str) -> bool:
        return self.index(*aliases) is not None

    def duplicated(self) -> list[str]:
        seen: set[str] = set()
        duplicates: list[str] = []
        for name in self.names:
            key = header_key(name)
            if key and key in seen and name not in duplicates:
                duplicates.append(name)
            seen.add(key)
        return duplicates


def find_header(
    text: DecodedText,
    accepts: Callable[[Header], bool],
    *,
    delimiters: Iterable[str] = ("\t", ",", ";"),
    start: int = 1,
    stop: int | None = None,
) -> Header | None:
    """First line in [start, stop] that, split on one of ``delimiters``, ``accepts``."""
    numbered = text.numbered(start)
    if stop is not None:
        numbered = itertools.takewhile(lambda item: item[0] <= stop, numbered)
    return _first_header(numbered, accepts, tuple(delimiters))


def head_has_header(
    data: bytes | str,
    accepts: Callable[[Header], bool],
    *,
    delimiters: Iterable[str] = ("\t",),
    lines: int = 5,
) -> bool:
    """Sniffing: does one of the first ``lines`` lines look like this format's header?"""
    head = enumerate(decode_head(data)[:lines], start=1)
    try:
        return _first_header(head, accepts, tuple(delimiters)) is not None
    except ExportParseError:  # a line csv cannot split is not a header either
        return False


def _first_header(
    numbered: Iterable[tuple[int, str]],
    accepts: Callable[[Header], bool],
    delimiters: tuple[str, ...],
) -> Header | None:
    for number, line in numbered:
        for delimiter in delimiters:
            if delimiter not in line:
                continue
            header = Header(number, delimiter, split_fields(line, delimiter, line_number=number))
            if accepts(header):
                return header
    return None


def is_section_marker(line: str) -> bool:
    """'[Results]'-style section lines end a table."""
    stripped = line.strip()
    return len(stripped) > 2 and stripped.startswith("[") and stripped.endswith("]")


def table_rows(text: DecodedText, header: Header) -> list[Row]:
    """Rows below ``header`` up to the first blank line, section marker or end of file;
    ExportParseError past MAX_READINGS rows."""
    rows = []
    for number, line in text.numbered(header.line + 1):
        if not line.strip() or is_section_marker(line):
            break
        if len(rows) == MAX_READINGS:
            raise too_many_readings(line=number)
        row = Row(number, split_fields(line, header.delimiter, line_number=number))
        if row.blank:  # a line of delimiters only, e.g. '\t\t\t'
            break
        rows.append(row)
    return rows


def too_many_readings(*, line: int | None = None) -> ExportParseError:
    return ExportParseError(
        f"the file holds more than {MAX_READINGS:,} readings; a plate export has at most a "
        "few thousand: is this the right file?",
        line=line,
    )


def lines_after(text: DecodedText, rows: list[Row], header: Header) -> int:
    """How many non-blank lines follow the table: content a reader would miss."""
    last = rows[-1].line if rows else header.line
    return sum(1 for _, line in text.numbered(last + 1) if line.strip())


@dataclass(frozen=True)
class WellColumns:
    """0-based column indices a row's well is read from; None = not in this file."""

    position: int
    cq: int | None
    sample: int | None = None
    target: int | None = None
    dye: int | None = None
    run: int | None = None
    quantity: int | None = None  # the standard's known quantity, read on standard rows only


def read_quantity(row: Row, index: int | None, style: NumberStyle, header: Header) -> float | None:
    """A standard's known quantity: None when the file states none (the layout may), a
    positive finite number, else ExportParseError naming the row and column."""
    text = row.cell(index)
    if index is None or not text:
        return None
    label = header.names[index].strip() or "quantity"
    try:
        value = style.parse(text)
    except ValueError as error:
        raise ExportParseError(f"{label} {error}", line=row.line, column=index + 1) from None
    if not (math.isfinite(value) and value > 0):
        raise ExportParseError(
            f"{label} {text!r}: a standard's quantity must be a positive number",
            line=row.line,
            column=index + 1,
        )
    return value


def number_style(
    rows: list[Row], cq_column: int | None, other_columns: Iterable[int | None] = ()
) -> NumberStyle:
    """Decimal comma or point, judged from the numeric columns of the whole table."""
    others = [index for index in other_columns if index is not None]
    return NumberStyle.detect(
        (row.cell(index) for row in rows for index in others),
        cq_cells=(row.cell(cq_column) for row in rows) if cq_column is not None else (),
    )


def well_from_row(
    row: Row,
    header: Header,
    columns: WellColumns,
    style: NumberStyle,
    *,
    plate_size: int | None = None,
    run: str = "",
    dye: str = "",
    flags: tuple[str, ...] = (),
    standard: bool = False,
) -> ParsedWell:
    """Build a well from a data row; errors name the row's line and the column. A
    ``standard`` row also reads its known quantity from ``columns.quantity``."""
    position_text = _required_cell(row, header, columns.position)
    if not position_text:
        raise _located("the well position is empty", row, columns.position)
    try:
        position = normalise_position(position_text, plate_size)
    except ExportParseError as error:
        raise error.located(line=row.line, column=columns.position + 1) from None
    cq = None
    if columns.cq is not None:
        label = header.names[columns.cq].strip() or "Cq"
        try:
            cq = read_cq(_required_cell(row, header, columns.cq), style, label)
        except ExportParseError as error:
            raise error.located(line=row.line, column=columns.cq + 1) from None
        if cq is None:
            flags = (UNDETERMINED, *flags)
    quantity = read_quantity(row, columns.quantity, style, header) if standard else None
    return ParsedWell(
        position=position,
        sample_name=row.cell(columns.sample),
        target=row.cell(columns.target),
        cq=cq,
        line=row.line,
        run=row.cell(columns.run) or run,
        dye=row.cell(columns.dye) or dye,
        flags=flags,
        standard=standard,
        quantity=quantity,
    )


def _required_cell(row: Row, header: Header, index: int) -> str:
    if index >= len(row.cells):
        name = header.names[index].strip() if index < len(header.names) else ""
        raise ExportParseError(
            f"the row has {len(row.cells)} fields, so its {name!r} field "
            f"(field {index + 1}) is missing; is the line cut short?",
            line=row.line,
        )
    return row.cells[index].strip()


def _located(message: str, row: Row, index: int) -> ExportParseError:
    return ExportParseError(message, line=row.line, column=index + 1)


def text_metadata(text: DecodedText) -> dict[str, str]:
    """What the decoder learned, kept in the metadata to explain odd results later."""
    return {"encoding": text.encoding, "line_endings": text.line_endings}
