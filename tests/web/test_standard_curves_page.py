"""The plate's QC page shows each assay's standard curve of the run (slope, R²,
efficiency ± SE, linear range, wells left out) and the picture of the curves, served
as SVG by ExoTrack itself (no CDN)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from biobank.services.plate_import import plate_import_confirm
from biobank.services.plates import plate_create
from tests.factories import study_assays
from tests.test_plate_standards import _place_reference_series

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(technician):
    plate = plate_create(barcode="PL-CURVE", operator=technician)
    assays = {a.target: a for a in study_assays()}
    data, _ = _place_reference_series(plate, assays, with_quantities=True)
    plate_import_confirm(plate=plate, data=data, filename="std.txt", user=technician)
    return plate


def test_the_qc_page_shows_each_assays_efficiency_and_left_out_wells(tech_client, imported):
    page = tech_client.get(reverse("web:plate_qc", args=[imported.pk])).content.decode()
    assert "Standard curves (efficiency of this run)" in page
    assert "94.1 % ± 1.2 %" in page  # miR-122: E 0.94146, SE 0.01185 (R reference)
    assert "101.0 % ± 1.2 %" in page  # cel-miR-39
    assert "outlier" in page  # the 10^4 replicate 25.54 is more than 0.5 cycle off
    assert reverse("web:plate_standard_curves_svg", args=[imported.pk]) in page


def test_the_curves_picture_is_svg_with_its_alt_text(tech_client, imported):
    response = tech_client.get(reverse("web:plate_standard_curves_svg", args=[imported.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    body = response.content.decode()
    assert body.lstrip().startswith("<?xml") or body.lstrip().startswith("<svg")
    assert "hsa-miR-122-5p slope -3.471, efficiency 94.1%" in body


def test_a_plate_without_standards_has_no_curve_section_nor_picture(tech_client, technician):
    plate = plate_create(barcode="PL-NONE", operator=technician)
    page = tech_client.get(reverse("web:plate_qc", args=[plate.pk])).content.decode()
    assert "Standard curves" not in page
    response = tech_client.get(reverse("web:plate_standard_curves_svg", args=[plate.pk]))
    assert response.status_code == 404


def test_the_picture_needs_the_plate_permission(client, imported):
    response = client.get(reverse("web:plate_standard_curves_svg", args=[imported.pk]))
    assert response.status_code in (302, 403)


def test_the_editor_places_a_standard_level_with_its_quantity(tech_client, technician):
    plate = plate_create(barcode="PL-ED-STD", operator=technician)
    mir122 = next(a for a in study_assays() if a.target == "hsa-miR-122-5p")
    body = {
        "edit-action": "place",
        "edit-positions": "A1-A3",
        "edit-kind": "standard",
        "edit-quantity": "1e6",
        "edit-assays": [mir122.pk],
    }
    response = tech_client.post(reverse("web:plate_edit", args=[plate.pk]), body, follow=True)
    assert "Placed standard 1e+06 in 3 positions (3 wells)." in response.content.decode()
    assert list(plate.wells.values_list("kind", "quantity", "replicate")) == [
        ("standard", 1e6, 1),
        ("standard", 1e6, 2),
        ("standard", 1e6, 3),
    ]
    assert "STD</abbr> 1e+06" in response.content.decode()


def test_the_editor_refuses_a_quantity_on_a_sample_naming_the_field(tech_client, technician):
    plate = plate_create(barcode="PL-ED-BAD", operator=technician)
    mir122 = next(a for a in study_assays() if a.target == "hsa-miR-122-5p")
    body = {
        "edit-action": "place",
        "edit-positions": "A1",
        "edit-kind": "ntc",
        "edit-quantity": "5",
        "edit-assays": [mir122.pk],
    }
    response = tech_client.post(reverse("web:plate_edit", args=[plate.pk]), body)
    assert "Only a standard well has a quantity" in response.content.decode()
    assert not plate.wells.exists()


def test_the_heat_map_shows_the_standard_wells_outside_the_replicate_groups(tech_client, imported):
    from biobank.selectors.plate_qc import plate_qc

    qc = plate_qc(imported)
    standards = [w for w in qc.wells if w.kind == "standard"]
    assert len(standards) == 33 and {w.sample for w in standards} == {"Standard"}
    assert not qc.groups  # a standard is no replicate group of a sample
