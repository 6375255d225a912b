"""The analysis-ready cohort export (docs/cohort.md), streamed in constant memory.

One writer serves `/api/v1/export/cohort.csv|json` and `manage.py export_cohort`,
so both give the same bytes for the same data and export time.

The header states the fingerprint of every row sent, yet rows are computed a chunk
of patients at a time (biobank.selectors.cohort.cohort_table_chunks) and never held
all at once:

1. each chunk is pickled into a spooled temporary file (memory up to a fixed size,
   disk beyond), and the columns seen are collected (a chunk without any well of an
   assay lacks that assay's columns, so the full column list is only known at the end);
2. the chunks are read back one at a time, given the full column list, fed to
   analysis.cohort.Fingerprinter and written as CSV (or JSON records) into a second
   spooled file;
3. the header (fingerprint, export time, patient count) is yielded, then the body
   in blocks.

Memory therefore depends on the chunk size, not on the number of patients. The
result is exactly `write_cohort_csv(cohort_table(), header_lines=export_header_lines(...))`
(tests/api/test_export.py checks it). Identities are never read: the cohort table
has no identity column, and withdrawn patients are left out at the source.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pandas as pd
from django.utils import timezone

from analysis.cohort import (
    BASELINE_COLUMNS,
    EXPORT_DICTIONARY_LINE,
    LINE_END,
    STATUS_COLUMNS,
    SURVIVAL_COLUMNS,
    Fingerprinter,
    expression_columns,
)
from analysis.csv_safety import neutralise_frame
from analysis.stats._json import json_safe

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
    """A prepared export: the header is known, the body waits in a spooled file.
    Iterate `stream()` once; it closes the file at the end."""

    format: str
    fingerprint: str
    exported_at: str
    patients: int
    columns: list[str]
    _body: tempfile.SpooledTemporaryFile = field(repr=False)

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
            self._body.seek(0)
            while block := self._body.read(BLOCK_CHARS):
                yield block
            yield self.tail()
        finally:
            self._body.close()

    def close(self) -> None:
        self._body.close()


def prepare_cohort_export(
    format: str = "csv",
    *,
    exported_at: str | None = None,
    chunk_size: int = CHUNK_PATIENTS,
    chunks: Iterable[pd.DataFrame] | None = None,
) -> CohortExport:
    """Compute the cohort chunk by chunk into spooled files (see the module docstring).

    `chunks` replaces the database (tests, imported tables); it must come in study_id
    order, as cohort_table_chunks gives it."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    exported_at = exported_at or timezone.now().isoformat(timespec="seconds")
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
                    _write_json_records(chunk, body, first=patients == 0)
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
        _body=body,
    )


def _write_json_records(chunk: pd.DataFrame, body, *, first: bool) -> None:
    records = json_safe(chunk.to_dict(orient="records"))
    for index, record in enumerate(records):
        separator = "\n" if first and index == 0 else ",\n"
        body.write(separator + json.dumps(record, ensure_ascii=False, allow_nan=False))


def cohort_export_stream(format: str = "csv", **options) -> Iterator[str]:
    """The whole export as text blocks (header first), for the command and tests."""
    return prepare_cohort_export(format, **options).stream()
