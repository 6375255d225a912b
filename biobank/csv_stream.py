"""A table streamed as CSV, row by row, safe to open in a spreadsheet.

The lists' exports (/samples/, /draws/, /patients/) send tens of thousands of rows:
each line is written as the database cursor gives the row, so memory does not grow
with the table and the first bytes leave before the last row is read. Text cells go
through analysis.csv_safety.neutralise (a barcode or note typed as `=HYPERLINK(...)`
is shown by Excel as text, never run); numbers and dates are written as they are.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse

from analysis.csv_safety import neutralise


class _Line:
    """A file-like object whose write returns what it was given (csv.writer's output)."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


def csv_response(
    *, filename: str, columns: Sequence[tuple[str, Callable]], rows: Iterable
) -> StreamingHttpResponse:
    """`columns` are (header, function of a row -> cell value)."""
    header = [name for name, _value in columns]
    cells = ([value(row) for _name, value in columns] for row in rows)
    response = StreamingHttpResponse(
        csv_lines(header, cells), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
