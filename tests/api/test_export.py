"""The analysis-ready export: streamed, in constant memory, identical from the API
and from `manage.py export_cohort`, and identical to the table written at once."""

from __future__ import annotations

import datetime as dt
import io
import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.urls import reverse

from analysis.cohort import (
    BASELINE_COLUMNS,
    SURVIVAL_COLUMNS,
    export_header_lines,
    fingerprint,
    read_cohort_csv,
    write_cohort_csv,
)
from analysis.stats._json import json_safe
from biobank.api.exports import cohort_export_stream, header_lines, prepare_cohort_export
from biobank.models import Patient
from biobank.selectors.cohort import cohort_table
from biobank.services.patients import patient_withdraw

pytestmark = pytest.mark.django_db

EXPORTED_AT = "2026-01-02T03:04:05+00:00"


@pytest.fixture
def frozen_now(monkeypatch):
    moment = dt.datetime.fromisoformat(EXPORTED_AT)
    monkeypatch.setattr("biobank.api.exports.timezone.now", lambda: moment)


def whole(table: pd.DataFrame) -> str:
    """The export as if written at once (the reference the stream must equal)."""
    buffer = io.StringIO()
    write_cohort_csv(
        table, buffer, header_lines=export_header_lines(table, exported_at=EXPORTED_AT)
    )
    return buffer.getvalue()


def streamed(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_the_header_lines_are_analysis_cohorts():
    table = pd.DataFrame({"study_id": ["A", "B"], "x": [1.5, None]})
    assert header_lines(
        fingerprint=fingerprint(table), patients=2, exported_at=EXPORTED_AT
    ) == export_header_lines(table, exported_at=EXPORTED_AT)


@pytest.mark.parametrize("chunk_size", [7, 1000])
def test_the_stream_equals_the_table_written_at_once(demo, chunk_size):
    table = cohort_table()
    assert len(table) == 75 and "mir122_ratio" in table.columns
    text = "".join(cohort_export_stream("csv", exported_at=EXPORTED_AT, chunk_size=chunk_size))
    assert text == whole(table)
    assert read_cohort_csv(io.StringIO(text)).equals(table)


def test_the_api_and_the_command_give_the_same_bytes(demo, clients, frozen_now, tmp_path):
    for format in ("csv", "json"):
        response = clients["analyst"].get(reverse(f"api:export-cohort-{format}"))
        assert response.status_code == 200
        out = tmp_path / f"cohort.{format}"
        call_command(
            "export_cohort",
            "--format",
            format,
            "--output",
            str(out),
            "--exported-at",
            EXPORTED_AT,
            stderr=io.StringIO(),
        )
        assert streamed(response) == out.read_bytes().decode("utf-8")  # CRLF kept


def test_the_api_streams_with_its_fingerprint_in_the_headers(demo, clients, frozen_now):
    table = cohort_table()
    response = clients["technician"].get(reverse("api:export-cohort-csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="exotrack-cohort-')
    assert response["X-Cohort-Fingerprint"] == f"sha256:{fingerprint(table)}"
    assert response["X-Cohort-Patients"] == "75"
    assert streamed(response) == whole(table)


def test_json_states_the_fingerprint_then_the_patients(demo, clients, frozen_now):
    table = cohort_table()
    response = clients["analyst"].get(reverse("api:export-cohort-json"))
    assert response["Content-Type"] == "application/json"
    document = json.loads(streamed(response))
    assert list(document) == ["fingerprint", "exported_at", "n_patients", "columns", "patients"]
    assert document["fingerprint"] == f"sha256:{fingerprint(table)}"
    assert document["exported_at"] == EXPORTED_AT and document["n_patients"] == 75
    assert document["columns"] == list(table.columns)
    assert document["patients"] == json_safe(table.to_dict(orient="records"))
    missing = [p for p in document["patients"] if p["hba1c_percent"] is None]
    assert len(missing) == 5  # missing is null, never zero


def test_withdrawn_patients_are_left_out(demo, clients):
    patient = Patient.objects.order_by("study_id").first()
    patient_withdraw(patient=patient, withdrawn_on=dt.date(2016, 1, 1), reason="asked")
    text = streamed(clients["analyst"].get(reverse("api:export-cohort-csv")))
    assert patient.study_id not in text and "# patients: 74" in text


def test_an_empty_cohort_exports_its_columns():
    text = "".join(cohort_export_stream("csv", exported_at=EXPORTED_AT))
    assert text == whole(cohort_table())
    document = json.loads("".join(cohort_export_stream("json", exported_at=EXPORTED_AT)))
    assert document["patients"] == [] and document["n_patients"] == 0


def test_chunks_without_an_assay_get_its_columns(demo):
    """A chunk whose patients have no well of an assay lacks its columns; the export
    still has one column list, in the order of the whole table."""
    table = cohort_table()
    mir21 = [c for c in table.columns if c.startswith("mir21_")]
    table.loc[:39, mir21] = np.nan
    chunks = [table.iloc[:40].drop(columns=mir21), table.iloc[40:]]
    export = prepare_cohort_export("csv", exported_at=EXPORTED_AT, chunks=chunks)
    assert export.columns == list(table.columns)
    assert "".join(export.stream()) == whole(table)


def synthetic_chunks(rows: int, chunk: int = 500):
    columns = [f"v{i:02d}" for i in range(40)]
    generator = np.random.default_rng(1)
    for start in range(0, rows, chunk):
        frame = pd.DataFrame(generator.normal(size=(chunk, len(columns))), columns=columns)
        frame.insert(0, "study_id", [f"S-{start + i:07d}" for i in range(chunk)])
        yield frame


def peak_bytes(rows: int) -> int:
    tracemalloc.start()
    try:
        export = prepare_cohort_export(
            "csv", exported_at=EXPORTED_AT, chunks=synthetic_chunks(rows)
        )
        sent = sum(len(block) for block in export.stream())
        assert sent > rows * 40 * 10
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_rows():
    small, large = peak_bytes(5_000), peak_bytes(50_000)
    assert large < small * 1.5, (small, large)


def test_known_columns_come_in_the_documented_order(demo):
    export = prepare_cohort_export("csv", exported_at=EXPORTED_AT)
    export.close()
    columns = export.columns
    assert columns[: len(BASELINE_COLUMNS)] == BASELINE_COLUMNS
    assert columns[-len(SURVIVAL_COLUMNS) :] == SURVIVAL_COLUMNS


# --- spreadsheet formulas (issue 17, item 3) -------------------------------------------

# One study id per formula prefix OWASP lists (=, +, -, @, tab, carriage return), and
# one that already begins with the escape quote.
FORMULA_IDS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", "'=quoted"]


def csv_cells(text: str) -> list[dict[str, str]]:
    """The CSV as a spreadsheet's importer sees it (the csv module, not our reader)."""
    import csv

    body = "".join(line for line in io.StringIO(text, newline="") if not line.startswith("#"))
    return list(csv.DictReader(io.StringIO(body, newline="")))


def test_formula_prefixes_are_neutralised_and_numbers_are_not():
    table = pd.DataFrame(
        {
            "study_id": FORMULA_IDS + ["P-1"],
            "ast_iu_l": [-1.5, 2.0, -0.25, 3.0, 4.0, 5.0, 6.0, -7.0],
            "note": ["-1.5", "=A1", None, "ok", "@x", "-", "+", "a-b"],
        }
    )
    buffer = io.StringIO()
    write_cohort_csv(table, buffer)
    rows = csv_cells(buffer.getvalue())
    # Each formula-looking text cell: a quote in front of the value, nothing else changed.
    assert [row["study_id"] for row in rows] == ["'" + value for value in FORMULA_IDS] + ["P-1"]
    assert [row["note"] for row in rows] == ["-1.5", "'=A1", "", "ok", "'@x", "'-", "'+", "a-b"]
    # Numbers stay numbers, minus sign and all.
    assert [row["ast_iu_l"] for row in rows] == ["-1.5", "2.0", "-0.25", "3.0", "4.0", "5.0",
                                                 "6.0", "-7.0"]  # fmt: skip
    back = read_cohort_csv(io.StringIO(buffer.getvalue()))
    assert sorted(back["study_id"]) == sorted(FORMULA_IDS + ["P-1"])
    assert back.set_index("study_id").loc["-2+3", "ast_iu_l"] == -0.25
    assert fingerprint(back) == fingerprint(read_cohort_csv(io.StringIO(buffer.getvalue())))
    assert back.set_index("study_id").loc["=1+2", "note"] == "-1.5"


def test_a_crlf_file_from_a_spreadsheet_still_reads():
    text = "# saved by Excel\r\nstudy_id,ast_iu_l\r\n'=X,1.5\r\nB,-2\r\n"
    back = read_cohort_csv(io.StringIO(text))
    assert list(back["study_id"]) == ["=X", "B"] and list(back["ast_iu_l"]) == [1.5, -2.0]


def test_the_export_of_formula_ids_imports_to_the_same_fingerprint(
    demo, clients, frozen_now, tmp_path
):
    from analysis.models import CohortDataset

    patients = list(Patient.objects.order_by("study_id")[: len(FORMULA_IDS)])
    for patient, study_id in zip(patients, FORMULA_IDS, strict=True):
        Patient.objects.filter(pk=patient.pk).update(study_id=study_id)
    table = cohort_table()
    assert set(FORMULA_IDS) <= set(table["study_id"])

    text = streamed(clients["analyst"].get(reverse("api:export-cohort-csv")))
    assert text == whole(table)
    written = {row["study_id"] for row in csv_cells(text)}
    assert {"'" + value for value in FORMULA_IDS} <= written
    assert not any(cell[:1] in "=+-@\t\r" for cell in written)  # nothing a formula

    path = tmp_path / "cohort.csv"
    path.write_text(text, encoding="utf-8", newline="")
    call_command("import_cohort", str(path), "--name", "formulas", stdout=io.StringIO())
    stated = next(line for line in text.splitlines() if line.startswith("# fingerprint:"))
    assert stated == f"# fingerprint: sha256:{fingerprint(table)}"
    assert CohortDataset.objects.get(name="formulas").fingerprint == fingerprint(table)
