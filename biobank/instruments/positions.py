"""Well positions: one canonical spelling ('A1') for every instrument.

Instruments write the same well as 'A1', 'A01', 'a1' or as a 1-based index counted
row by row (1 = A1, 13 = B1 on a 96-well plate). Matching a result to a sample only
works when they all become the same string, so every parser goes through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .base import ExportParseError

ROW_LETTERS = "ABCDEFGHIJKLMNOP"
# plate size -> (rows, columns); the largest plate bounds positions of unknown plates
PLATE_GEOMETRY: dict[int, tuple[int, int]] = {48: (6, 8), 96: (8, 12), 384: (16, 24)}
_LARGEST_PLATE = max(PLATE_GEOMETRY)

_LETTER_NUMBER = re.compile(r"([A-Za-z])\s*[-:_]?\s*([0-9]{1,4})")
_INDEX = re.compile(r"[0-9]{1,6}")


class InvalidPosition(ExportParseError):
    """A well name that is not on the plate (or not a well name at all)."""


def plate_geometry(plate_size: int) -> tuple[int, int]:
    """(rows, columns) of a standard plate; raise for sizes no supported instrument uses."""
    try:
        return PLATE_GEOMETRY[plate_size]
    except KeyError:
        sizes = ", ".join(str(size) for size in PLATE_GEOMETRY)
        raise ExportParseError(f"plate size {plate_size} is not one of {sizes}") from None


def make_position(row: int, column: int) -> str:
    """Canonical name from a 0-based row and a 1-based column."""
    return f"{_row_letter(row)}{column}"


def normalise_position(text: str, plate_size: int | None = None) -> str:
    """Return the canonical 'A1' form of a well name or 1-based row-major index.

    Without ``plate_size`` a letter+number is accepted up to P24 (the largest plate) and
    a bare number is refused, because its meaning depends on the plate.
    """
    cleaned = text.strip()
    rows, columns = plate_geometry(plate_size or _LARGEST_PLATE)
    plate = f"a {plate_size}-well plate" if plate_size else "a plate of up to 384 wells"
    match = _LETTER_NUMBER.fullmatch(cleaned)
    if match:
        row = ROW_LETTERS.find(match.group(1).upper())
        column = int(match.group(2))
        if 0 <= row < rows and 1 <= column <= columns:
            return make_position(row, column)
        raise InvalidPosition(
            f"well {cleaned!r} is not on {plate} (rows A-{ROW_LETTERS[rows - 1]}, "
            f"columns 1-{columns})"
        )
    if _INDEX.fullmatch(cleaned):
        if plate_size is None:
            raise InvalidPosition(f"numeric well {cleaned!r} needs a plate size (96 or 384)")
        return position_from_index(int(cleaned), rows=rows, columns=columns)
    raise InvalidPosition(f"{cleaned!r} is not a well position")


def position_from_index(index: int, *, rows: int, columns: int) -> str:
    """Position of a 1-based row-major index on a plate of ``rows`` x ``columns``."""
    if not 1 <= index <= rows * columns:
        raise InvalidPosition(f"well number {index} is not on a {rows}x{columns} plate")
    row, column = divmod(index - 1, columns)
    return make_position(row, column + 1)


def split_position(position: str) -> tuple[str, int]:
    """('A', 1) from a canonical or any accepted spelling."""
    canonical = normalise_position(position)
    return canonical[0], int(canonical[1:])


def row_index(position: str) -> int:
    """0-based row: A -> 0, P -> 15."""
    return ROW_LETTERS.index(split_position(position)[0])


def column_number(position: str) -> int:
    """1-based column: A1 -> 1."""
    return split_position(position)[1]


def infer_plate_size(positions: Iterable[str]) -> int | None:
    """Smallest standard plate holding every position; None when there are none."""
    rows = columns = 0
    for position in positions:
        rows = max(rows, row_index(position) + 1)
        columns = max(columns, column_number(position))
    if rows == 0:
        return None
    for size, (plate_rows, plate_columns) in sorted(PLATE_GEOMETRY.items()):
        # 48-well blocks are rare; only report 48 if the file says so, not by inference
        if size != 48 and rows <= plate_rows and columns <= plate_columns:
            return size
    return _LARGEST_PLATE


def plate_size_for_index(highest_index: int) -> int:
    """Smallest 96/384 plate numbering up to ``highest_index``, for files that number wells
    without saying the plate size; the caller should warn that it was assumed."""
    for size in (96, 384):
        if highest_index <= size:
            return size
    raise InvalidPosition(f"well number {highest_index} is beyond a 384-well plate")


def _row_letter(row: int) -> str:
    if not 0 <= row < len(ROW_LETTERS):
        raise InvalidPosition(f"row {row + 1} is beyond row {ROW_LETTERS[-1]}")
    return ROW_LETTERS[row]
