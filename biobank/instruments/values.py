"""What a Cq cell means, the same way for every instrument.

An undetermined well must reach the database as "no Cq", never as 0 or 40: a 0 would
look like a huge amount of miRNA and a 40 like a trace. Every spelling instruments use
for "no amplification" is listed here once.
"""

from __future__ import annotations

from .base import ExportParseError
from .decoding import NumberStyle

UNDETERMINED_TOKENS = frozenset(
    {"", "undetermined", "undet", "undet.", "n/a", "na", "nan", "-", "--", "no cq", "no ct"}
)
# The one range a Cq may take, both ends excluded: the Well table's check constraint
# (well_cq_plausible) is built from these, and the import preview refuses any reading
# outside it naming the well, so a confirm can never fail on it. 0 is no Cq (an
# undetermined well is empty, never 0); 60 cycles is beyond any miRNA run.
CQ_MIN = 0.0
CQ_MAX = 60.0
CQ_RANGE = f"{CQ_MIN:g}-{CQ_MAX:g}"


def cq_in_range(value: float) -> bool:
    return CQ_MIN < value < CQ_MAX


def is_undetermined(text: str | None) -> bool:
    return text is None or text.strip().casefold() in UNDETERMINED_TOKENS


def read_cq(text: str | None, style: NumberStyle, label: str = "Cq") -> float | None:
    """The Cq in ``text``; None when undetermined; ExportParseError when not a number.

    A number outside CQ_MIN-CQ_MAX is read as it is: the parser reads the file, and
    the import preview (biobank.instruments.checks.out_of_range) refuses it naming
    the well, every such well at once rather than the first line only."""
    if is_undetermined(text):
        return None
    token = text.strip()
    try:
        return style.parse(token)
    except ValueError as error:
        raise ExportParseError(f"{label} {error}") from None
