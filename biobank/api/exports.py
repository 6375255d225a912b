"""The analysis-ready cohort export (docs/cohort.md), streamed in constant memory.

One writer serves `/api/v1/export/cohort.csv|json` and `manage.py export_cohort`,
so both give the same bytes for the same data and export time.

From the cohort snapshot (biobank.selectors.cohort_cache, issue 16), the usual path:
the CSV header's fingerprint and patient count are the snapshot's, and the body is
the CSV text stored with it, streamed a few chunks of 1,000 patients at a time: no
cohort is built, memory holds a few chunks. The JSON export reads the snapshot's table
(memory follows the table, not the export) and writes its records 1,000 at a time.

Without a stored snapshot of the current data (inside a transaction, where none may be
stored, or when `chunks` are given) the export computes the table a chunk of patients
at a time (biobank.selectors.cohort.cohort_table_chunks), never held all at once:

1. each chunk is pickled into a spooled temporary file (memory up to a fixed size,
   disk beyond), and the columns seen are collected (a chunk without any well of an
   assay lacks that assay's columns, so the full column list is only known at the end);
2. the chunks are read back one at a time, given the full column list, fed to
   analysis.cohort.Fingerprinter and written as CSV (or JSON records) into a second
   spooled file;
3. the header (fingerprint, export time, patient count) is yielded, then the body
   in blocks.

Either way the result is exactly
`write_cohort_csv(cohort_table(), header_lines=export_header_lines(...))`
(tests/api/test_export.py, tests/test_cohort_cache.py check it). Identities are never
read: the cohort table has no identity column, and withdrawn patients are left out at
the source.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.utils import timezone

from analysis.columns import (
    BASELINE_COLUMNS,
    LINE_END,
    STATUS_COLUMNS,
    SURVIVAL_COLUMNS,
    expression_columns,
)
from analysis.dictionary import EXPORT_DICTIONARY_LINE

if TYPE_CHECKING:
    import pandas as pd

# pandas and the analysis chain are imported where a table is computed or converted (the
# chunked path, JSON): streaming the CSV of a stored snapshot needs neither, so a fresh
# worker's first export does not wait for them (issue 16).

FORMATS = ("csv", "json")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
CHUNK_PATIENTS = 1000
BLOCK_CHARS = 64 * 1024
SPOOL_BYTES = 2 * 1024 * 1024  # in memory up to this, then on disk


def header_lines(*, fingerprint: str, patients: int, exported_at: str) -> list[str]:
    """The comment lines heading a CSV export: the same as
    analysis.cohort.export_header_lines(table, ...) states for the whole table, from a
    fingerprint computed chunk by chunk (tests pin the two together)."""
    return [
        "ExoTrack analysis-ready cohort (one row a patient; withdrawn patients left out)",
        f"fingerprint: sha256:{fingerprint}",
        f"exported_at: {exported_at}",
        f"patients: {patients}",
        EXPORT_DICTIONARY_LINE,
    ]


def column_order(seen: Iterable[str]) -> list[str]:
    """The order build_cohort_table gives: baseline, what was drawn, expression by
    prefix, survival, then anything else in the order first seen."""
    seen = list(dict.fromkeys(seen))
    present = set(seen)
    prefixes = sorted(
        {column.removesuffix("_pre_dcq") for column in seen if column.endswith("_pre_dcq")}
        | {column.removesuffix("_post_dcq") for column in seen if column.endswith("_post_dcq")}
    )
    ordered = [c for c in [*BASELINE_COLUMNS, *STATUS_COLUMNS] if c in present]
    ordered += [c for c in expression_columns(prefixes) if c in present]
    ordered += [c for c in SURVIVAL_COLUMNS if c in present]
    return ordered + [c for c in seen if c not in set(ordered)]


def _default_chunks(chunk_size: int) -> Iterator[pd.DataFrame]:
    from biobank.selectors.cohort import cohort_table, cohort_table_chunks

    produced = False
    for chunk in cohort_table_chunks(chunk_size):
        produced = True
        yield chunk
    if not produced:
        yield cohort_table()  # no patient: the empty table with its columns


@dataclass
class CohortExport:
    """A prepared export: the header is known, the body waits (in a spooled file, or in
    the stored snapshot). Iterate `stream()` once; it closes what it read at the end."""

    format: str
    fingerprint: str
    exported_at: str
    patients: int
    columns: list[str]
    _body: Iterator[str] = field(repr=False)
    _close: Callable[[], None] = field(repr=False, default=lambda: None)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def filename(self) -> str:
        stamp = self.exported_at.replace(":", "").replace("-", "")[:15]
        return f"exotrack-cohort-{stamp}.{self.format}"

    def head(self) -> str:
        if self.format == "csv":
            lines = header_lines(
                fingerprint=self.fingerprint, patients=self.patients, exported_at=self.exported_at
            )
            return "".join(f"# {line}{LINE_END}" for line in lines)
        return (
            "{"
            f'"fingerprint": {json.dumps("sha256:" + self.fingerprint)}, '
            f'"exported_at": {json.dumps(self.exported_at)}, '
            f'"n_patients": {self.patients}, '
            f'"columns": {json.dumps(self.columns)}, '
            '"patients": ['
        )

    def tail(self) -> str:
        return "" if self.format == "csv" else "\n]}\n"

    def stream(self) -> Iterator[str]:
        try:
            yield self.head()
            yield from self._body
            yield self.tail()
        finally:
            self.close()

    def close(self) -> None:
        self._close()


def _spooled_blocks(body: tempfile.SpooledTemporaryFile) -> Iterator[str]:
    body.seek(0)
    while block := body.read(BLOCK_CHARS):
        yield block


def prepare_cohort_export(
    format: str = "csv",
    *,
    exported_at: str | None = None,
    chunk_size: int = CHUNK_PATIENTS,
    chunks: Iterable[pd.DataFrame] | None = None,
) -> CohortExport:
    """The export of the live cohort from its snapshot, else computed chunk by chunk
    into spooled files (see the module docstring; `chunk_size` is for that path).

    `chunks` replaces the database (tests, imported tables); it must come in study_id
    order, as cohort_table_chunks gives it."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    exported_at = exported_at or timezone.now().isoformat(timespec="seconds")
    if chunks is None:
        export = _from_snapshot(format, exported_at)
        if export is not None:
            return export
    source = _default_chunks(chunk_size) if chunks is None else chunks

    # Handed to the CohortExport, which closes it when streamed (or on close()).
    body = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=SPOOL_BYTES, mode="w+", encoding="utf-8", newline=""
    )
    try:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as frames:
            seen: list[str] = []
            n_chunks = 0
            for chunk in source:
                pickle.dump(chunk, frames, protocol=pickle.HIGHEST_PROTOCOL)
                seen.extend(column for column in chunk.columns if column not in seen)
                n_chunks += 1
            columns = column_order(seen)

            from analysis.cohort import Fingerprinter
            from analysis.csv_safety import neutralise_frame

            fingerprinter = Fingerprinter()
            patients = 0
            frames.seek(0)
            for index in range(n_chunks):
                chunk = pickle.load(frames).reindex(columns=columns)  # our own file
                fingerprinter.update(chunk)
                if format == "csv":
                    # Spreadsheet-safe as write_cohort_csv writes it: formula-looking
                    # text cells get a leading quote, CRLF line ends quote line breaks.
                    neutralise_frame(chunk).to_csv(
                        body, index=False, header=index == 0, lineterminator=LINE_END
                    )
                else:
                    body.write(_json_records(chunk, first=patients == 0))
                patients += len(chunk)
    except BaseException:
        body.close()
        raise
    return CohortExport(
        format=format,
        fingerprint=fingerprinter.hexdigest(),
        exported_at=exported_at,
        patients=patients,
        columns=columns,
        _body=_spooled_blocks(body),
        _close=body.close,
    )


def _from_snapshot(format: str, exported_at: str) -> CohortExport | None:
    """The export read from the snapshot of today's data; None (CSV) when none is
    stored and none may be (inside a transaction): the chunked path then."""
    from biobank.selectors.cohort_cache import (
        cached_cohort,
        cohort_snapshot,
        snapshot_csv_chunks,
    )

    if format == "csv":
        snapshot = cohort_snapshot()
        if snapshot is None:
            return None
        body = snapshot_csv_chunks(snapshot)
        first = next(body)  # the header row opens the first chunk
        columns = next(csv.reader(io.StringIO(first, newline="")), [])
        return CohortExport(
            format=format,
            fingerprint=snapshot.fingerprint,
            exported_at=exported_at,
            patients=snapshot.rows,
            columns=columns,
            _body=itertools.chain([first], body),
            _close=body.close,
        )
    cohort = cached_cohort()  # built, not stored, inside a transaction: its data all the same
    table = cohort.table
    return CohortExport(
        format=format,
        fingerprint=cohort.columns_fingerprint(table.columns),  # memoised on the snapshot
        exported_at=exported_at,
        patients=len(table),
        columns=list(table.columns),
        _body=(
            _json_records(table.iloc[start : start + CHUNK_PATIENTS], first=start == 0)
            for start in range(0, len(table), CHUNK_PATIENTS)
        ),
    )


def _json_records(chunk: pd.DataFrame, *, first: bool) -> str:
    from analysis.stats._json import json_safe

    records = json_safe(chunk.to_dict(orient="records"))
    return "".join(
        ("\n" if first and index == 0 else ",\n")
        + json.dumps(record, ensure_ascii=False, allow_nan=False)
        for index, record in enumerate(records)
    )


def cohort_export_stream(format: str = "csv", **options) -> Iterator[str]:
    """The whole export as text blocks (header first), for the command and tests."""
    return prepare_cohort_export(format, **options).stream()
