"""The cohort after a data change is rebuilt for the touched patients only
(biobank.selectors.cohort_incremental, issue 16), and is exactly what a full build gives:
the table (every value and dtype), the QC evidence and the export's bytes, for every
write path, and after a seeded random run of them.

Snapshots are stored outside transactions only, so these tests commit
(transactional_db). Each test reads the cohort (a snapshot is stored), writes, reads
again (the incremental path: asserted), then compares with a full build of the same
data."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest
from django.db import connection
from django.test import override_settings
from pandas.testing import assert_frame_equal

from biobank.models import (
    Assay,
    CohortChange,
    CohortSnapshot,
    CohortSnapshotChunk,
    FollowUp,
    Patient,
    QpcrPlate,
    Well,
)
from biobank.selectors import cohort_cache
from biobank.selectors.cohort import cohort_with_evidence
from biobank.selectors.cohort_cache import cached_cohort, export_chunks
from biobank.services.patients import (
    follow_up_update,
    patient_create,
    patient_update,
    patient_withdraw,
    treatment_create,
)
from biobank.services.plate_import import plate_import_confirm
from biobank.services.plate_import_revert import plate_import_revert
from biobank.services.plates import well_exclude, well_restore

from .test_plates import export_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def small_cohort(monkeypatch):
    """A 30-patient synthetic cohort through the raw loader, read once (stored), its
    export in chunks of 7 patients (so that untouched chunks can be copied)."""
    from biobank.demo.cohort import generate_cohort

    monkeypatch.setattr(cohort_cache, "CHUNK_PATIENTS", 7)
    from biobank.demo.loader import load_cohort as load_demo

    load_demo(generate_cohort(n=30, seed=7))
    cached_cohort()
    assert CohortSnapshot.objects.count() == 1


def stored_export(snapshot_id: int) -> str:
    chunks = CohortSnapshotChunk.objects.filter(snapshot_id=snapshot_id).order_by("index")
    return "".join(chunks.values_list("csv", flat=True))


def assert_as_full_build(*, incremental: bool = True) -> None:
    """The next read equals a full build: table, evidence, stored export and
    fingerprint; and it was built incrementally (unless told otherwise)."""
    cohort = cached_cohort()
    if incremental:
        assert cohort_cache.last_build["how"] == "incremental"
    table, evidence = cohort_with_evidence()
    assert_frame_equal(cohort.table, table, check_exact=True)
    assert cohort.evidence == evidence
    chunks, whole = export_chunks(table)
    snapshot = CohortSnapshot.objects.get(pk=cohort.snapshot_id)
    assert stored_export(snapshot.pk) == "".join(text for _rows, text in chunks)
    assert snapshot.fingerprint == whole


def study_ids() -> list[str]:
    return list(cached_cohort().table["study_id"])


def sample_well(study_id: str, role=Assay.Role.TARGET) -> Well:
    return (
        Well.objects.filter(
            sample__rna__isolation__aliquot__draw__patient__study_id=study_id,
            assay__role=role,
            cq__isnull=False,
        )
        .order_by("pk")
        .first()
    )


# ---------------------------------------------------------------- one write each


def test_a_well_cq_edit(small_cohort, monkeypatch):
    copied = []
    stored_chunk = cohort_cache.Reuse.stored_chunk

    def counted(self, start, ids):
        found = stored_chunk(self, start, ids)
        copied.append(found is not None)
        return found

    monkeypatch.setattr(cohort_cache.Reuse, "stored_chunk", counted)
    well = sample_well(study_ids()[3])
    Well.objects.filter(pk=well.pk).update(cq=well.cq + 1.7)
    assert_as_full_build()
    assert copied.count(False) == 1 and copied.count(True) >= 3  # one chunk formatted


def test_an_exclusion_and_its_restore(small_cohort, curator):
    well = sample_well(study_ids()[5])
    well_exclude(well=well, user=curator, reason="bubble")
    assert_as_full_build()
    well.refresh_from_db()
    well_restore(well=well, user=curator, reason="no bubble after all")
    assert_as_full_build()


def test_an_ntc_well_that_amplifies(small_cohort):
    ntc = Well.objects.filter(kind=Well.Kind.NTC).order_by("pk").first()
    Well.objects.filter(pk=ntc.pk).update(cq=31.5)
    assert_as_full_build()


def test_a_spike_in_well_far_from_its_batch(small_cohort):
    well = sample_well(study_ids()[7], role=Assay.Role.SPIKE_IN)
    Well.objects.filter(pk=well.pk).update(cq=well.cq + 6)
    assert_as_full_build()


def test_a_patient_and_a_follow_up_edit(small_cohort):
    patient = Patient.objects.get(study_id=study_ids()[2])
    patient_update(patient=patient, age_at_enrolment=patient.age_at_enrolment + 9)
    assert_as_full_build()
    contact = FollowUp.objects.filter(patient=patient).latest("contact_date")
    follow_up_update(follow_up=contact, contact_date=contact.contact_date - dt.timedelta(days=40))
    assert_as_full_build()


def test_a_withdrawal(small_cohort):
    patient = Patient.objects.get(study_id=study_ids()[4])
    patient_withdraw(patient=patient, withdrawn_on=dt.date(2021, 1, 1), reason="asked to")
    assert_as_full_build()
    assert patient.study_id not in study_ids()


def test_a_new_patient(small_cohort):
    patient = patient_create(
        study_id="ZZ-NEW-1",
        sex="F",
        age_at_enrolment=61,
        liver_background="cirrhosis",
        etiology="HCV",
        type2_diabetes=False,
        consent_date=dt.date(2020, 1, 1),
    )
    treatment_create(
        patient=patient, performed_on=dt.date(2020, 2, 1), anticancer_agent="epirubicin"
    )
    assert_as_full_build()
    assert "ZZ-NEW-1" in study_ids()


def test_a_plate_import_and_its_revert(small_cohort, curator, technician):
    plate = QpcrPlate.objects.order_by("barcode").first()
    record = plate_import_confirm(
        plate=plate,
        data=export_for(plate, cq=lambda well: 30 + well.row / 10),
        filename="new.txt",
        user=curator,
        replace=True,
        reason="instrument re-analysed",
        override_reason="the names are the layout's",
    )
    assert_as_full_build()  # every patient on the plate, its NTCs and their batches
    plate_import_revert(plate_import=record, user=technician, reason="wrong file")
    assert_as_full_build()


def test_an_excursion_link(small_cohort):
    from biobank.models import Aliquot, Freezer, TemperatureExcursion

    aliquot = Aliquot.objects.filter(isolations__isnull=False).order_by("pk").first()
    excursion = TemperatureExcursion.objects.create(
        freezer=Freezer.objects.first(),
        started_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        ended_at=dt.datetime(2020, 1, 2, tzinfo=dt.UTC),
        peak_temperature_c=-20,
    )
    excursion.affected_aliquots.add(aliquot)
    assert_as_full_build()
    excursion.affected_aliquots.clear()
    assert_as_full_build()


def test_a_raw_sql_update(small_cohort):
    well = sample_well(study_ids()[9])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE biobank_well SET cq = cq - 2 WHERE id = %s", [well.pk])
        cursor.execute(
            "UPDATE biobank_patient SET age_at_enrolment = 33 WHERE study_id = %s",
            [study_ids()[1]],
        )
    assert_as_full_build()


def test_a_settings_change_builds_in_full(small_cohort, settings):
    with override_settings(EXOTRACK={**settings.EXOTRACK, "CQ_CUTOFF": 33.0}):
        assert_as_full_build(incremental=False)
        assert cohort_cache.last_build["how"] != "incremental"


def test_a_move_without_a_logged_row_builds_in_full(small_cohort):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE biobank_cohortversion SET version = version + 1 WHERE id = 1")
    assert_as_full_build(incremental=False)
    assert cohort_cache.last_build["how"] == "the change log does not cover every version since"


def test_an_assay_change_builds_in_full(small_cohort):
    assay = Assay.objects.filter(role=Assay.Role.TARGET).order_by("pk").first()
    Assay.objects.filter(pk=assay.pk).update(target=assay.target + "x")
    assert_as_full_build(incremental=False)
    assert cohort_cache.last_build["how"] == "biobank_assay changed"


def test_the_log_starts_again_with_the_counter(small_cohort):
    well = sample_well(study_ids()[0])
    Well.objects.filter(pk=well.pk).update(cq=well.cq + 0.3)
    assert CohortChange.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM biobank_cohortversion")
    assert not CohortChange.objects.exists()


def test_the_log_is_pruned_to_the_kept_snapshots(small_cohort):
    for n in range(3):
        well = sample_well(study_ids()[n])
        Well.objects.filter(pk=well.pk).update(cq=well.cq + 0.3)
        cached_cohort()
    oldest = CohortSnapshot.objects.order_by("version").first().version
    assert not CohortChange.objects.filter(version__lte=oldest).exists()


# ---------------------------------------------------------------- a random run


def test_a_seeded_random_run_of_edits_ends_as_a_full_build(small_cohort, curator):
    rng = random.Random(16)
    wells = list(
        Well.objects.filter(cq__isnull=False).order_by("pk").values_list("pk", "cq", "kind")
    )
    for step in range(12):
        choice = rng.choice(["cq", "cq", "exclude", "age", "follow_up", "withdraw"])
        if choice == "cq":
            pk, cq, _kind = rng.choice(wells)
            Well.objects.filter(pk=pk).update(cq=round(cq + rng.uniform(-3, 3), 2))
        elif choice == "exclude":
            pk, _cq, kind = rng.choice([w for w in wells if w[2] == Well.Kind.SAMPLE])
            well_exclude(well=Well.objects.get(pk=pk), user=curator, reason=f"step {step}")
        elif choice == "age":
            patient = Patient.objects.active().order_by("?").first()
            patient_update(patient=patient, age_at_enrolment=rng.randint(30, 90))
        elif choice == "follow_up":
            contact = FollowUp.objects.filter(patient__withdrawn_on__isnull=True).order_by("pk")
            contact = contact[rng.randrange(contact.count())]
            follow_up_update(
                follow_up=contact,
                contact_date=contact.contact_date - dt.timedelta(days=rng.randint(1, 30)),
            )
        else:
            patient = Patient.objects.active().order_by("study_id")[rng.randrange(20)]
            patient_withdraw(patient=patient, withdrawn_on=dt.date(2022, 1, 1), reason="asked")
        if rng.random() < 0.6:  # not every write is read at once
            cached_cohort()
    assert_as_full_build()
    assert isinstance(cached_cohort().table, pd.DataFrame)
