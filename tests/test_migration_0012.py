"""Migration 0012 keeps the excursion links (the m2m table becomes ExcursionExposure) and
fills each link's minutes inside from the custody log and the excursion's peak."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE, AFTER = ("biobank", "0014_rack_scan_import"), ("biobank", "0012_excursion_exposure")


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def test_existing_links_stay_and_get_their_exposure():
    old = migrate(BEFORE)
    try:
        model = old.get_model
        utc = dt.UTC
        freezer = model("biobank", "Freezer").objects.create(name="ULT-MIG")
        rack = model("biobank", "Rack").objects.create(freezer=freezer, name="R")
        box = model("biobank", "Box").objects.create(rack=rack, name="B", barcode="MIG-BOX")
        patient = model("biobank", "Patient").objects.create(
            study_id="MIG-1",
            sex="M",
            age_at_enrolment=60,
            consent_date=dt.date(2020, 1, 1),
            liver_background="cirrhosis",
            etiology="HCV",
            type2_diabetes=False,
        )
        treatment = model("biobank", "Treatment").objects.create(
            patient=patient,
            performed_on=dt.date(2020, 1, 2),
            is_initial=True,
            anticancer_agent="epirubicin",
        )
        draw = model("biobank", "SerumDraw").objects.create(
            patient=patient,
            treatment=treatment,
            timepoint="PRE",
            drawn_at=dt.datetime(2020, 1, 1, 8, tzinfo=utc),
            serum_volume_ul=500,
        )
        tube = model("biobank", "Aliquot").objects.create(
            barcode="MIG-T1", draw=draw, initial_volume_ul=10, volume_ul=10, box=box, row=1,
            column=1,
        )  # fmt: skip
        model("biobank", "StorageEvent").objects.create(
            aliquot=tube,
            kind="check_in",
            at=dt.datetime(2020, 5, 1, 11, 15, tzinfo=utc),
            to_box=box,
            to_row=1,
            to_column=1,
            previous_hash="0" * 64,
            hash="1" * 64,
        )
        excursion = model("biobank", "TemperatureExcursion").objects.create(
            freezer=freezer,
            started_at=dt.datetime(2020, 5, 1, 10, tzinfo=utc),
            ended_at=dt.datetime(2020, 5, 1, 12, tzinfo=utc),
            peak_temperature_c=-38,
        )
        excursion.affected_aliquots.add(tube)

        new = migrate(AFTER)
        link = new.get_model("biobank", "ExcursionExposure").objects.get()
        assert (link.excursion_id, link.aliquot_id) == (excursion.pk, tube.pk)
        assert (link.minutes, link.peak_temperature_c) == (45, -38)
    finally:
        migrate(("biobank", "0012_excursion_exposure"))
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
