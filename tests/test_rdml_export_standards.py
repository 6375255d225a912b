"""RDML round trip of a standard curve and a chosen efficiency. Needs the 'standard' well
kind and AssayEfficiency (issue 14, branch q14eff): skipped until both are on the branch
under test, then it checks that every level's quantity and Cq come back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps

from biobank.instruments import parse_export
from biobank.selectors.miqe import plate_miqe
from biobank.selectors.rdml_export import plate_rdml, plates_rdml_document
from biobank.services import plates as plate_services

from .factories import study_assays
from .test_rdml_export import rdml_errors

pytestmark = pytest.mark.skipif(
    not hasattr(plate_services, "plate_place_dilution_series")
    or "assayefficiency" not in apps.all_models["biobank"],
    reason="needs the standard well kind and AssayEfficiency (issue 14, q14eff)",
)


def test_a_dilution_series_and_its_efficiency_come_back(db):
    assays = study_assays()
    plate = plate_services.plate_create(barcode="PL-STD")
    plate_services.plate_place_dilution_series(
        plate=plate,
        positions=[f"A{n}" for n in range(1, 10)],
        assays=assays[:1],
        top_quantity=1e6,
        replicates=3,
    )
    for n, well in enumerate(plate.wells.order_by("row", "column")):
        well.cq = 18 + 3.3 * (n // 3) + n % 3 * 0.05
        well.save(update_fields=["cq"])
    apps.get_model("biobank", "AssayEfficiency").objects.create(
        assay=assays[0],
        method="run",
        value=0.95,
        se=0.01,
        source="PL-STD curve",
        chosen_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )
    archive = plate_rdml(plate)
    assert rdml_errors(archive) == []
    document = plates_rdml_document([plate], experiment_id="x", serial="x")
    assert document.targets[0].efficiency == 1.95  # RDML: fold per cycle
    assert {s.id for s in document.samples} == {
        "Standard 1e+06 copies",
        "Standard 100000 copies",
        "Standard 10000 copies",
    }
    parsed = parse_export(archive)
    stored = {w.position: (w.cq, w.quantity) for w in plate.wells.all()}
    assert {w.position: (w.cq, w.quantity) for w in parsed.wells} == stored
    assert all(w.standard for w in parsed.wells)
    efficiency = {i.item: i for i in plate_miqe(plate)}["PCR efficiency and how it was determined"]
    assert "E = 95.0% (SE 1.0%)" in efficiency.value
