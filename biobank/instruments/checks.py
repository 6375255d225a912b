"""What makes a parsed export unfit to import, whatever the plate: each problem is a
message naming the well, so the technician can find it in the instrument software.

Pure functions of the readings (no database): the import preview
(biobank.services.plate_import) refuses a file with any of these, and the confirm
repeats the preview, so a reading the database would refuse never reaches it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .base import ParsedWell
from .values import CQ_RANGE, cq_in_range

# Messages listed one per well up to this many; then how many more.
LISTED = 10


def _well(reading: ParsedWell) -> str:
    target = f" ({reading.target})" if reading.target else ""
    return f"well {reading.position}{target}"


def _capped(messages: list[str], what: str) -> list[str]:
    if len(messages) <= LISTED:
        return messages
    return [*messages[:LISTED], f"… and {len(messages) - LISTED} more {what}"]


def out_of_range(readings: Iterable[ParsedWell]) -> list[str]:
    """'well C7: Cq 75.0 is outside 0-60 (line 31)', one a reading out of range."""
    messages = [
        f"{_well(r)}: Cq {r.cq:g} is outside {CQ_RANGE} cycles (line {r.line})"
        for r in readings
        if r.cq is not None and not cq_in_range(r.cq)
    ]
    return _capped(messages, "wells with a Cq outside the range")


def duplicates(readings: Iterable[ParsedWell]) -> list[str]:
    """The positions read twice for one target and dye (same run): which of the two
    values is the well's cannot be known, and one would silently win.

    A multiplex position legitimately has several readings, but they differ in target
    or dye; target names compare case- and space-insensitively."""
    groups: dict[tuple, list[ParsedWell]] = {}
    for reading in readings:
        key = (
            reading.run,
            reading.position,
            " ".join(reading.target.casefold().split()),
            reading.dye.casefold(),
        )
        groups.setdefault(key, []).append(reading)
    messages = []
    for group in groups.values():
        if len(group) < 2:
            continue
        values = ", ".join("no Cq" if r.cq is None else f"{r.cq:g}" for r in group)
        lines = ", ".join(str(r.line) for r in group)
        messages.append(
            f"{_well(group[0])} is in the file {len(group)} times (lines {lines}; Cq {values}):"
            " one reading per well and assay"
        )
    return _capped(messages, "wells read more than once")
