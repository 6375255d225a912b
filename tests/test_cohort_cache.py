"""The cohort cache (biobank.selectors.cohort_cache, issue 16): a hit is the table a
fresh build gives, a moved version rebuilds, nothing is stored inside a transaction,
concurrent builders do not fail, subset fingerprints are memoised exactly, and the
export streamed from the snapshot is byte for byte the export computed before.

Storing happens outside transactions only, so these tests commit (transactional_db).
The counter is moved with a real upsert of biobank_cohortversion, as the database
triggers on the cohort's tables do it (biobank/migrations)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analysis.cohort import export_header_lines, fingerprint, write_cohort_csv
from analysis.models import AnalysisPlan
from analysis.plans import columns_used
from analysis.services import input_fingerprint, load_cohort, load_cohort_with_evidence
from biobank.api.exports import cohort_export_stream, prepare_cohort_export
from biobank.models import CohortSnapshot, CohortSnapshotChunk, Patient
from biobank.selectors import cohort_cache
from biobank.selectors.cohort import cohort_table, cohort_table_chunks, cohort_with_evidence
from biobank.selectors.cohort_cache import (
    cached_cohort,
    cached_cohort_with_evidence,
    cohort_cache_key,
    cohort_snapshot,
    columns_key,
)
from biobank.services.patients import patient_withdraw
from tests.api.helpers import client_for

pytestmark = pytest.mark.django_db(transaction=True)

EXPORTED_AT = "2026-01-02T03:04:05+00:00"


def move_version() -> None:
    """What the triggers do on a write to a cohort table: bump the one counter row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO biobank_cohortversion (id, version) VALUES (1, 1) "
            "ON CONFLICT (id) DO UPDATE SET version = biobank_cohortversion.version + 1"
        )


def seed(patients: int = 75) -> None:
    call_command("seed_demo", patients=patients, stdout=io.StringIO())
    move_version()


def whole(table: pd.DataFrame) -> str:
    buffer = io.StringIO()
    write_cohort_csv(
        table, buffer, header_lines=export_header_lines(table, exported_at=EXPORTED_AT)
    )
    return buffer.getvalue()


def test_a_hit_is_the_table_and_evidence_a_fresh_build_gives():
    seed()
    first = cached_cohort()
    assert first.snapshot_id is not None and CohortSnapshot.objects.count() == 1
    hit = cached_cohort()
    assert hit.snapshot_id == first.snapshot_id and CohortSnapshot.objects.count() == 1
    table, evidence = cohort_with_evidence()
    pd.testing.assert_frame_equal(hit.table, table)
    assert hit.evidence == evidence and len(table) == 75
    snapshot = CohortSnapshot.objects.get()
    assert snapshot.fingerprint == fingerprint(table) and snapshot.rows == 75
    assert snapshot.key == cohort_cache_key()
    # Each read hands out its own copy: changing one does not change the next.
    hit.table.loc[0, "age_years"] = -1
    assert cached_cohort().table.loc[0, "age_years"] == table.loc[0, "age_years"]


def test_a_moved_version_rebuilds_and_sees_the_change():
    seed()
    before, _ = cached_cohort_with_evidence()
    patient = Patient.objects.order_by("study_id").first()
    patient_withdraw(patient=patient, withdrawn_on=dt.date(2016, 1, 1), reason="asked")
    move_version()
    after, evidence = cached_cohort_with_evidence()
    assert patient.study_id in set(before["study_id"])
    assert patient.study_id not in set(after["study_id"]) and len(after) == 74
    assert evidence["withdrawn"] == 1
    pd.testing.assert_frame_equal(after, cohort_table())
    Patient.objects.filter(study_id=after.loc[0, "study_id"]).update(age_at_enrolment=99)
    move_version()
    with CaptureQueriesContext(connection) as queries:
        assert cached_cohort().table.loc[0, "age_years"] == 99
    assert CohortSnapshot.objects.count() == cohort_cache.KEEP_SNAPSHOTS  # older ones gone
    # Dropping the oldest does not read its table: only the key lookup selects tables.
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and '."table"' in q["sql"]]
    assert len(reads) == 1, reads


def test_other_settings_make_another_key():
    seed()
    key = cohort_cache_key()
    cached_cohort()
    options = {**cohort_cache.settings.EXOTRACK, "CQ_CUTOFF": 34.0}
    with override_settings(EXOTRACK=options):
        assert cohort_cache_key() != key
        assert cached_cohort().snapshot_id != CohortSnapshot.objects.get(key=key).pk
    assert CohortSnapshot.objects.filter(key=key).exists()


def test_nothing_is_stored_inside_a_transaction():
    seed()
    with transaction.atomic():
        built = cached_cohort()
        assert built.snapshot_id is None and len(built.table) == 75
        assert cohort_snapshot() is None
        assert CohortSnapshot.objects.count() == 0
    assert CohortSnapshot.objects.count() == 0
    stored = cohort_snapshot()  # outside: stored
    assert stored is not None and stored.rows == 75


def test_two_builders_of_one_key_store_one_snapshot_without_error():
    seed()
    key = cohort_cache_key()
    first, second = cohort_cache._build(key), cohort_cache._build(key)
    assert first.snapshot_id is not None and second.snapshot_id is None
    assert CohortSnapshot.objects.filter(key=key).count() == 1
    pd.testing.assert_frame_equal(first.table, second.table)


def test_the_memoised_fingerprint_is_the_fingerprint_of_the_columns(
    django_assert_num_queries,
):
    seed()
    plan = AnalysisPlan.objects.get(name="paper-default")
    table = load_cohort()
    columns = [c for c in columns_used(plan.spec, table.columns) if c in table.columns]
    expected = fingerprint(table[columns])
    assert input_fingerprint(table, plan.spec) == expected
    snapshot = CohortSnapshot.objects.get()
    assert snapshot.fingerprints[columns_key(columns)] == expected
    with django_assert_num_queries(2):  # the version, the snapshot: no build, no write
        again = input_fingerprint(load_cohort(), plan.spec)
    assert again == expected
    # A table derived from it is not the one served: its own fingerprint, not the memo.
    fewer = load_cohort().iloc[1:]
    assert input_fingerprint(fewer, plan.spec) == fingerprint(fewer[columns]) != expected


@pytest.mark.parametrize("patients", [12, 40])
def test_a_hit_costs_two_queries_whatever_the_size(patients, django_assert_num_queries):
    seed(patients)
    load_cohort_with_evidence()
    with django_assert_num_queries(2):
        table, _ = load_cohort_with_evidence()
    assert len(table) == patients
    snapshot = cohort_snapshot()
    with django_assert_num_queries(3):  # version, snapshot, its chunks
        text = "".join(cohort_export_stream("csv", exported_at=EXPORTED_AT))
    assert f"# patients: {patients}" in text and snapshot.rows == patients


def test_the_export_from_the_snapshot_is_the_export_before(monkeypatch, analyst, tmp_path):
    monkeypatch.setattr(cohort_cache, "CHUNK_PATIENTS", 20)  # 75 patients: four chunks
    seed()
    table = cohort_table()
    chunked = {
        format: "".join(
            prepare_cohort_export(
                format, exported_at=EXPORTED_AT, chunks=cohort_table_chunks(7)
            ).stream()
        )
        for format in ("csv", "json")
    }
    assert not CohortSnapshot.objects.exists()
    text = "".join(cohort_export_stream("csv", exported_at=EXPORTED_AT))
    assert CohortSnapshotChunk.objects.count() == 4
    assert text == chunked["csv"] == whole(table)
    document = "".join(cohort_export_stream("json", exported_at=EXPORTED_AT))
    assert document == chunked["json"]
    assert json.loads(document)["fingerprint"] == f"sha256:{fingerprint(table)}"

    monkeypatch.setattr(
        "biobank.api.exports.timezone.now", lambda: dt.datetime.fromisoformat(EXPORTED_AT)
    )
    response = client_for(analyst).get(reverse("api:export-cohort-csv"))
    assert b"".join(response.streaming_content).decode() == whole(table)
    assert response["X-Cohort-Fingerprint"] == f"sha256:{fingerprint(table)}"
    out = tmp_path / "cohort.csv"
    call_command(
        "export_cohort", "-o", str(out), "--exported-at", EXPORTED_AT, stderr=io.StringIO()
    )
    assert out.read_bytes().decode("utf-8") == whole(table)
    assert CohortSnapshot.objects.count() == 1  # all read the one snapshot


def test_an_empty_cohort_exports_its_columns_from_the_snapshot():
    move_version()
    text = "".join(cohort_export_stream("csv", exported_at=EXPORTED_AT))
    assert CohortSnapshot.objects.get().rows == 0
    assert text == whole(cohort_table())


def test_chunks_of_a_snapshot_deleted_under_the_reader_raise_rather_than_end_short():
    seed()
    snapshot = cohort_snapshot()
    assert "".join(cohort_cache.snapshot_csv_chunks(snapshot)).count("\r\n") == 76
    CohortSnapshot.objects.all().delete()  # two newer snapshots stored meanwhile
    with pytest.raises(RuntimeError, match="replaced while it was read"):
        list(cohort_cache.snapshot_csv_chunks(snapshot))


TRIGGERS = any(
    path.name.startswith("0009_cohort_version_triggers")
    for path in (Path(__file__).resolve().parent.parent / "biobank" / "migrations").iterdir()
)


@pytest.mark.skipif(not TRIGGERS, reason="the version triggers (biobank 0009) are not merged")
def test_a_write_without_a_manual_bump_is_seen_by_the_next_read(analyst):
    """With the triggers, the write alone moves the version: no stale hit."""
    seed()
    before = cached_cohort().table
    study_id = before.loc[0, "study_id"]
    Patient.objects.filter(study_id=study_id).update(age_at_enrolment=98)  # a bulk update
    after = cached_cohort()
    assert after.table.loc[0, "age_years"] == 98 != before.loc[0, "age_years"]
    text = "".join(cohort_export_stream("csv", exported_at=EXPORTED_AT))
    assert text == whole(cohort_table())


def test_the_export_reads_the_snapshot_without_its_pickles():
    """The export streams the stored CSV chunks: the snapshot's pickled table, evidence
    and the incremental build's parts (megabytes at 10,000 patients) stay in the
    database, or a fresh worker's memory grows with the cohort."""
    seed()
    cached_cohort()
    snapshot = cohort_cache.cohort_snapshot()
    assert {"table", "evidence", "parts"} <= snapshot.get_deferred_fields()
