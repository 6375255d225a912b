"""The cohort version moves on every write to what the cohort is built from, whatever
wrote it, and on nothing else (issue 16; triggers in
biobank/migrations/0009_cohort_version_triggers).

Each write-path test reads the cohort before the write, checks the version moved, and
that the next read of the cohort (analysis.services.load_cohort) shows the change: with
the cohort cache merged, these guard it against serving a stale table.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analysis.services import load_cohort
from biobank.models import (
    Aliquot,
    Assay,
    Box,
    CohortVersion,
    FollowUp,
    Patient,
    QpcrPlate,
    Well,
)
from biobank.selectors.cohort_version import cohort_version
from biobank.services.aliquots import Position, aliquot_check_out, aliquot_move
from biobank.services.patients import follow_up_update, patient_withdraw
from biobank.services.plate_import import plate_import_confirm
from biobank.services.plate_import_revert import plate_import_revert
from biobank.services.plates import well_exclude

from .api.helpers import client_for
from .test_plates import export_for

pytestmark = pytest.mark.django_db

# Columns of the watched tables the cohort build does not read: an UPDATE of only
# these leaves the version alone (tube moves, check-outs, bookkeeping). A new field on
# a watched table must be added here or to the triggers' WHEN clause (a new migration).
UNWATCHED = {
    "biobank_patient": {"consent_date", "withdrawal_reason", "created_at", "updated_at"},
    "biobank_treatment": {
        "kind", "anticancer_agent", "mitomycin_c", "lipiodol", "gelatin_sponge_embolisation",
    },
    "biobank_clinicalassessment": {"patient_id", "assessed_on", "child_pugh_disagrees"},
    "biobank_followup": {"recorded_at", "recorded_by_id"},
    "biobank_serumdraw": {
        "days_after_treatment", "outside_window", "container", "held_cold",
        "centrifugation_g", "centrifugation_minutes", "centrifugation_temperature_c",
        "serum_volume_ul", "storage_temperature_c", "note",
    },
    "biobank_aliquot": {
        "box_id", "row", "column", "status", "initial_volume_ul", "volume_ul", "created_at",
    },
    "biobank_temperatureexcursion_affected_aliquots": set(),
    "biobank_exosomeisolationbatch": {
        "performed_on", "operator_id", "exoquick_lot", "exoquick_volume_ul",
        "serum_volume_ul", "incubation_hours", "incubation_temperature_c",
        "centrifugation_g", "centrifugation_minutes", "spike_in_name", "spike_in_lot",
        "spike_in_volume_ul", "lysis_buffer_ul", "note",
    },
    "biobank_exosomeisolation": {"serum_volume_ul"},
    "biobank_rnaisolation": {
        "performed_on", "operator_id", "kit", "kit_lot", "elution_volume_ul",
        "storage_temperature_c", "freeze_thaw_count", "deviation",
    },
    "biobank_reversetranscription": {
        "performed_on", "operator_id", "kit", "kit_lot", "input_volume_ul", "deviation",
    },
    "biobank_assay": {"vendor", "vendor_assay_id"},
    "biobank_qpcrplate": {
        "plate_format", "instrument", "dye_assays", "run_at", "operator_id", "status",
        "created_at",
    },
    "biobank_well": {"excluded_at", "excluded_by_id", "imported_from_id",
                     # a standard's known quantity: standards never reach the cohort
                     # (its kind is watched); the efficiency they give is chosen apart
                     "quantity", "quantity_unit"},
}  # fmt: skip


@pytest.fixture
def small_cohort():
    """A 12-patient synthetic cohort through the raw loader (bulk inserts)."""
    from biobank.demo.cohort import generate_cohort
    from biobank.demo.loader import load_cohort as load_demo

    load_demo(generate_cohort(n=12, seed=3))


def cohort():
    return load_cohort().set_index("study_id")


def alive_patient_last_contact() -> FollowUp:
    table = cohort()
    study_id = table.index[table["vital_status"].eq("alive")][0]
    return FollowUp.objects.filter(patient__study_id=study_id).latest("contact_date")


# ---------------------------------------------------------------- which tables


def cohort_build_sql() -> list[str]:
    from biobank.selectors.cohort import cohort_table_chunks, cohort_with_evidence

    with CaptureQueriesContext(connection) as queries:
        cohort_with_evidence()
        list(cohort_table_chunks(chunk_size=5))
    return [query["sql"] for query in queries.captured_queries]


def tables_and_columns_read(statements: list[str]) -> dict[str, set[str]]:
    """Table -> columns named in the SQL. An alias (T4, U0: Django reuses U0 in every
    subquery) counts for every table it names in that statement, so the columns are a
    superset of what is read: never fewer than the triggers must watch."""
    columns_of = {
        model._meta.db_table: {field.column for field in model._meta.local_concrete_fields}
        for model in apps.get_models(include_auto_created=True)
    }
    read: dict[str, set[str]] = {}
    for sql in statements:
        names: dict[str, set[str]] = {}
        for table, alias in re.findall(
            r'(?:FROM|JOIN)\s+"(\w+)"(?:\s+(?:AS\s+)?"?([A-Z]\d+)\b)?', sql
        ):
            names.setdefault(table, set()).add(table)
            read.setdefault(table, set())
            if alias:
                names.setdefault(alias, set()).add(table)
        for name, column in re.findall(r'"?(\w+)"?\."(\w+)"', sql):
            for table in names.get(name, ()):
                if column in columns_of[table]:
                    read[table].add(column)
    return read


def triggers() -> dict[str, dict]:
    """Table -> {'events': the events with a trigger, 'watched': the columns whose
    UPDATE moves the version}, read back from the database."""
    found: dict[str, dict] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE 'cohort_version_%%'"
            )
        else:
            cursor.execute(
                "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE 'cohort_version_%'"
            )
        for table, _name, definition in cursor.fetchall():
            entry = found.setdefault(table, {"events": set(), "watched": set()})
            head = definition.split(" WHEN ")[0].upper()
            entry["events"] |= {e for e in ("INSERT", "UPDATE", "DELETE", "TRUNCATE") if e in head}
            if " WHEN " in definition:
                entry["watched"] |= set(re.findall(r'old\."?(\w+)"?', definition, re.I))
            elif "UPDATE" in head and "INSERT INTO" not in head:
                entry["watched"].add("*every column*")
    return found


def test_every_table_and_column_the_cohort_reads_has_a_trigger(small_cohort):
    read = tables_and_columns_read(cohort_build_sql())
    found = triggers()
    assert "biobank_well" in read and "biobank_temperatureexcursion_affected_aliquots" in read
    for table, columns in read.items():
        assert table in found, f"the cohort reads {table}, which has no trigger"
        events = {"INSERT", "UPDATE", "DELETE"}
        if connection.vendor == "postgresql":
            events.add("TRUNCATE")
        assert found[table]["events"] >= events, table
        missing = columns - found[table]["watched"]
        assert not missing, f"the cohort reads {table}.{sorted(missing)}: not watched"


def test_every_field_of_a_watched_table_is_watched_or_known_unread():
    """A new field on a table the cohort reads fails here until someone decides: the
    cohort reads it (a migration adds it to the triggers) or not (add it to UNWATCHED)."""
    found = triggers()
    assert set(found) == set(UNWATCHED)
    models = {m._meta.db_table: m for m in apps.get_models(include_auto_created=True)}
    for table, entry in found.items():
        columns = {field.column for field in models[table]._meta.local_concrete_fields}
        unclassified = columns - entry["watched"] - UNWATCHED[table]
        assert not unclassified, f"{table}.{sorted(unclassified)}: watched or not?"
        assert not entry["watched"] & UNWATCHED[table], table
        assert UNWATCHED[table] <= columns, f"{table}: UNWATCHED names a column it lacks"


# ---------------------------------------------------------------- every write path


def test_the_raw_loader_moves_it():
    from biobank.demo.cohort import generate_cohort
    from biobank.demo.loader import load_cohort as load_demo

    before, version = len(load_cohort()), cohort_version()
    load_demo(generate_cohort(n=12, seed=3))
    assert cohort_version() > version
    assert (before, len(load_cohort())) == (0, 12)


def test_a_service_follow_up_update_moves_it(small_cohort):
    contact = alive_patient_last_contact()
    study_id, before = contact.patient.study_id, cohort()
    version = cohort_version()
    follow_up_update(follow_up=contact, contact_date=contact.contact_date - dt.timedelta(days=61))
    assert cohort_version() > version
    after = cohort()
    assert after.loc[study_id, "dss_months"] < before.loc[study_id, "dss_months"]


def test_a_withdrawal_moves_it(small_cohort):
    patient = Patient.objects.order_by("study_id").first()
    assert patient.study_id in cohort().index
    version = cohort_version()
    patient_withdraw(patient=patient, withdrawn_on=dt.date(2020, 1, 1), reason="asked to")
    assert cohort_version() > version
    assert patient.study_id not in cohort().index


def sample_well_of(study_id: str) -> Well:
    return (
        Well.objects.filter(
            sample__rna__isolation__aliquot__draw__patient__study_id=study_id,
            assay__role=Assay.Role.TARGET,
            cq__isnull=False,
        )
        .order_by("pk")
        .first()
    )


def test_a_well_exclusion_moves_it(small_cohort, curator):
    before = cohort()
    well = sample_well_of(before.index[0])
    version = cohort_version()
    well_exclude(well=well, user=curator, reason="bubble")
    assert cohort_version() > version
    assert not cohort().loc[before.index[0]].equals(before.loc[before.index[0]])


def test_an_admin_change_form_moves_it(small_cohort, client, curator):
    contact = alive_patient_last_contact()
    study_id, before = contact.patient.study_id, cohort()
    version = cohort_version()
    client.force_login(curator)
    response = client.post(
        reverse("admin:biobank_followup_change", args=[contact.pk]),
        {
            "contact_date": str(contact.contact_date - dt.timedelta(days=61)),
            "status": contact.status,
            "cause_of_death": contact.cause_of_death,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert cohort_version() > version
    assert cohort().loc[study_id, "dss_months"] < before.loc[study_id, "dss_months"]


def test_an_api_patch_and_post_move_it(small_cohort, curator):
    contact = alive_patient_last_contact()
    study_id, before = contact.patient.study_id, cohort()
    api = client_for(curator)
    version = cohort_version()
    earlier = contact.contact_date - dt.timedelta(days=61)
    response = api.patch(
        f"/api/v1/follow-ups/{contact.pk}/", {"contact_date": str(earlier)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert cohort_version() > version
    assert cohort().loc[study_id, "dss_months"] < before.loc[study_id, "dss_months"]

    version = cohort_version()
    later = contact.contact_date + dt.timedelta(days=365)
    response = api.post(
        "/api/v1/follow-ups/",
        {"patient": contact.patient_id, "contact_date": str(later), "status": "alive"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert cohort_version() > version
    assert str(cohort().loc[study_id, "last_contact_date"]) == str(later)


def test_a_bulk_queryset_update_moves_it(small_cohort):
    study_id = cohort().index[0]
    version = cohort_version()
    Patient.objects.filter(study_id=study_id).update(age_at_enrolment=99)
    assert cohort_version() > version
    assert cohort().loc[study_id, "age_years"] == 99


def test_a_raw_sql_update_moves_it(small_cohort):
    study_id = cohort().index[0]
    version = cohort_version()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE biobank_patient SET age_at_enrolment = 98 WHERE study_id = %s", [study_id]
        )
    assert cohort_version() > version
    assert cohort().loc[study_id, "age_years"] == 98


def test_a_plate_import_and_its_revert_move_it(small_cohort, curator, technician):
    plate = QpcrPlate.objects.get(barcode="DEMO-QP-0001")
    before = cohort()
    version = cohort_version()
    record = plate_import_confirm(
        plate=plate,
        data=export_for(plate, cq=lambda well: 30 + well.row / 10),
        filename="new.txt",
        user=curator,
        replace=True,
        reason="instrument re-analysed",
        override_reason="the names are the layout's",
    )
    assert cohort_version() > version
    imported = cohort()
    assert not imported.equals(before)

    version = cohort_version()
    plate_import_revert(plate_import=record, user=technician, reason="wrong file")
    assert cohort_version() > version
    assert cohort().equals(before)


def test_an_excursion_link_moves_it(small_cohort):
    from biobank.models import Freezer, TemperatureExcursion

    aliquot = Aliquot.objects.filter(isolations__isnull=False).order_by("pk").first()
    excursion = TemperatureExcursion.objects.create(
        freezer=Freezer.objects.first(),
        started_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        ended_at=dt.datetime(2020, 1, 2, tzinfo=dt.UTC),
        peak_temperature_c=-20,
    )
    before, version = cohort(), cohort_version()
    excursion.affected_aliquots.add(aliquot)
    assert cohort_version() > version
    assert not cohort().equals(before)  # the excursion flag
    version = cohort_version()
    excursion.affected_aliquots.clear()
    assert cohort_version() > version


# ---------------------------------------------------------------- and nothing else


def test_a_rolled_back_savepoint_leaves_it(small_cohort):
    study_id = cohort().index[0]
    version = cohort_version()
    with pytest.raises(RuntimeError), transaction.atomic():
        Patient.objects.filter(study_id=study_id).update(age_at_enrolment=97)
        raise RuntimeError("rolled back")
    assert cohort_version() == version


def test_a_version_read_in_a_rolled_back_savepoint_is_undone(small_cohort):
    """On PostgreSQL the read fires the pending bump inside the savepoint; its rollback
    re-queues it, so the write made before the savepoint still moves the version."""
    study_id = cohort().index[0]
    version = cohort_version()
    Patient.objects.filter(study_id=study_id).update(age_at_enrolment=96)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert cohort_version() > version
        raise RuntimeError("rolled back")
    assert cohort_version() > version


def test_writes_after_a_read_move_it_again(small_cohort):
    study_id = cohort().index[0]
    Patient.objects.filter(study_id=study_id).update(age_at_enrolment=95)
    read = cohort_version()
    Patient.objects.filter(study_id=study_id).update(age_at_enrolment=94)
    assert cohort_version() > read


def a_free_position(aliquot: Aliquot) -> Position:
    box = aliquot.box or Box.objects.first()
    taken = set(Aliquot.objects.filter(box=box).values_list("row", "column"))
    for row in range(1, box.rows + 1):
        for column in range(1, box.columns + 1):
            if (row, column) not in taken:
                return Position(box=box, row=row, column=column)
    raise AssertionError("a full box")


def test_tube_moves_and_check_outs_leave_it(small_cohort, technician):
    aliquot = Aliquot.objects.filter(status=Aliquot.Status.STORED).order_by("pk").first()
    before = cohort()
    version = cohort_version()
    aliquot_move(aliquot=aliquot, position=a_free_position(aliquot), user=technician, reason="tidy")
    aliquot_check_out(aliquot=aliquot, user=technician, reason="to the bench")
    Aliquot.objects.filter(pk=aliquot.pk).update(volume_ul=1)
    assert cohort_version() == version
    assert cohort().equals(before)


def test_no_op_saves_leave_it(small_cohort):
    version = cohort_version()
    for model in (Patient, FollowUp, Well, Aliquot, QpcrPlate):
        for row in model.objects.all()[:5]:
            row.save()
    assert cohort_version() == version


def test_the_counter_is_one_row():
    # Not necessarily 0 here: on PostgreSQL a transactional test's flush (TRUNCATE) fires
    # the truncate trigger, which sets the counter again after emptying it.
    before = cohort_version()
    Assay.objects.create(target="miR-x", role=Assay.Role.TARGET)
    # On PostgreSQL the row appears when cohort_version() fires the pending bump (or at
    # commit): read the version through it, never through the model.
    assert cohort_version() > before
    assert list(CohortVersion.objects.values_list("pk", flat=True)) == [1]


@pytest.mark.django_db(transaction=True)
def test_committed_transactions_move_it_and_rolled_back_ones_do_not():
    """Real transactions (not the test's savepoints): a commit moves it (once on
    PostgreSQL, however many rows), a rollback does not."""
    start = cohort_version()
    with transaction.atomic():
        for n in range(3):
            Assay.objects.create(target=f"miR-{n}", role=Assay.Role.TARGET)
    committed = cohort_version()
    assert committed > start
    if connection.vendor == "postgresql":
        assert committed == start + 1
    with pytest.raises(RuntimeError), transaction.atomic():
        Assay.objects.filter(target="miR-0").update(target="miR-y")
        raise RuntimeError("rolled back")
    assert cohort_version() == committed
    with transaction.atomic():
        Assay.objects.update(vendor="another vendor")  # a column the cohort does not read
    assert cohort_version() == committed
