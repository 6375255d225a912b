"""Codes of RT (cDNA) products, derived from the serum tube they come from.

A technician never types an RT code: a typed code is how two products come to share
a name on a plate layout, or a product comes to name the wrong patient. The scheme:

    <aliquot barcode>-RT<n>

where n counts the RT products made from that tube's RNA, 1 for the first. The
aliquot barcode is already on the tube, unique and printed, so the code tells the
bench which tube it came from without a look-up, and a second RT of the same RNA
(other primers, or a repeat) is -RT2, -RT3, ... A code that does not follow the
scheme (typed in the admin before the scheme, e.g. the older demo's "<barcode>-RT")
still counts as one of the tube's products, so numbers never repeat.

Pure functions: no Django, no database (the services pass what they read).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SUFFIX = "-RT"
MAX_LENGTH = 64  # ReverseTranscription.code


def rt_code(aliquot_barcode: str, number: int) -> str:
    """The code of the `number`-th RT product of the tube `aliquot_barcode`."""
    barcode = aliquot_barcode.strip()
    if not barcode:
        raise ValueError("An RT code needs the aliquot barcode")
    if number < 1:
        raise ValueError(f"RT products are numbered from 1, not {number}")
    code = f"{barcode}{SUFFIX}{number}"
    if len(code) > MAX_LENGTH:
        raise ValueError(f"The RT code {code} would be longer than {MAX_LENGTH} characters")
    return code


def rt_number(aliquot_barcode: str, code: str) -> int | None:
    """n of a code made by the scheme for this tube, or None for any other code."""
    match = re.fullmatch(re.escape(aliquot_barcode.strip() + SUFFIX) + r"([1-9][0-9]*)", code)
    return int(match.group(1)) if match else None


def next_rt_code(aliquot_barcode: str, existing_codes: Iterable[str]) -> str:
    """The code for one more RT product of the tube, given the codes of the RT products
    already made from its RNA: one past both their count and the highest n in use,
    so a deleted or off-scheme product never makes a number come round twice."""
    codes = list(existing_codes)
    numbers = [n for n in (rt_number(aliquot_barcode, code) for code in codes) if n]
    return rt_code(aliquot_barcode, max([len(codes), *numbers]) + 1)
