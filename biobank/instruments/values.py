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
# No thermal cycler runs more than 99 cycles; anything outside (0, 100] is not a Cq.
MAX_CQ = 100.0


def is_undetermined(text: str | None) -> bool:
    return text is None or text.strip().casefold() in UNDETERMINED_TOKENS


def read_cq(text: str | None, style: NumberStyle, label: str = "Cq") -> float | None:
    """The Cq in ``text``; None when undetermined; ExportParseError when not a Cq."""
    if is_undetermined(text):
        return None
    token = text.strip()
    try:
        value = style.parse(token)
    except ValueError as error:
        raise ExportParseError(f"{label} {error}") from None
    if not 0 < value <= MAX_CQ:
        raise ExportParseError(
            f"{label} {token!r} is not a possible Cq (must be above 0 and at most {MAX_CQ:g})"
        )
    return value
