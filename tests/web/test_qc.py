"""The QC page: Cq as a heat map, replicate groups, exclusions, and well decisions."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank.models import Well
from biobank.services.plate_import import plate_import_confirm
from biobank.services.plates import plate_create, plate_layout, well_exclude

from ..factories import ReverseTranscriptionFactory
from ..test_plates import export_for
from .conftest import field_errors, text

pytestmark = pytest.mark.django_db


def qc_url(plate, **query):
    url = reverse("web:plate_qc", args=[plate.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def cell(html: str, position: str) -> str:
    """The heat-map cell of a well: its <td> opening tag and its link."""
    match = re.search(
        r'<td class="hm[^"]*"[^>]*>\s*<a href="\?well=' + position + r'#decide"[^>]*>', html
    )
    assert match, position
    return match.group(0)


def test_the_heat_map_colours_every_well_by_cq(tech_client, imported_plate):
    html = tech_client.get(qc_url(imported_plate)).content.decode()
    assert html.count('class="hm empty"') == 96 - 21
    assert html.count('<td class="hm') - html.count('class="hm empty"') == 21
    assert "--heat: 0.000" in cell(html, "A1")  # lowest Cq on the plate
    assert "--heat: 1.000" in cell(html, "B7")  # the amplifying NTC is the highest
    assert "--heat: 0.381" in cell(html, "A3")  # (25.00 - 20.01) / (33.10 - 20.01)
    assert "undetermined" in cell(html, "B2") and "--heat" not in cell(html, "B2")


def test_automatic_exclusions_come_from_analysis_qc_with_their_reasons(tech_client, imported_plate):
    response = tech_client.get(qc_url(imported_plate))
    html = response.content.decode()
    assert "excluded" in cell(html, "A3")
    exclusions = text(response).split("Exclusions and decisions")[1]
    assert (
        "A3 RT-1 hsa-miR-122-5p 25.00 excluded automatic QC replicate 3 is 4.98 cycles"
        in exclusions
    )
    assert "undetermined (no Cq)" in exclusions


def test_replicate_groups_show_spread_and_flags(tech_client, imported_plate):
    page = text(tech_client.get(qc_url(imported_plate)))
    groups = page.split("Replicate groups")[1].split("Exclusions and decisions")[0]
    assert "20.01 20.02 25.00 20.02 0.01 4.99 2 / 3" in groups  # mean, SD over accepted, spread
    assert "fewer than 2 accepted replicates (1 of 3)" in groups
    assert "NTC amplified on the plate" in groups
    assert "NTC hsa-miR-122-5p: NTC amplified (Cq 33.10)" in page


def test_exclude_a_well_with_a_reason(tech_client, imported_plate, technician):
    response = tech_client.post(
        qc_url(imported_plate),
        {"position": "a1", "decision": "exclude", "reason": "bubble in well"},
    )
    assert response["Location"] == qc_url(imported_plate, well="A1")
    well = imported_plate.wells.get(row=1, column=1)
    assert well.excluded is True and well.exclusion_reason == "bubble in well"
    assert well.excluded_by == technician
    html = tech_client.get(response["Location"]).content.decode()
    assert "manual" in cell(html, "A1") and "selected" in cell(html, "A1")
    assert "bubble in well" in html


def test_restore_an_automatic_exclusion_then_hand_it_back(tech_client, imported_plate):
    tech_client.post(
        qc_url(imported_plate),
        {"position": "A3", "decision": "restore", "reason": "pipetting fine, keep"},
    )
    assert "excluded" not in cell(tech_client.get(qc_url(imported_plate)).content.decode(), "A3")
    tech_client.post(
        qc_url(imported_plate), {"position": "A3", "decision": "automatic", "reason": ""}
    )
    well = imported_plate.wells.get(row=1, column=3)
    assert well.excluded is None and well.exclusion_reason == ""


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"position": "A1", "decision": "exclude", "reason": ""}, "reason", "Give the reason"),
        ({"position": "H12", "decision": "exclude", "reason": "x"}, "position", "has no well H12"),
        (
            {"position": "well one", "decision": "exclude", "reason": "x"},
            "position",
            "not a position",
        ),
        (
            {"position": "A1", "decision": "burn", "reason": "x"},
            "decision",
            "Select a valid choice",
        ),
    ],
    ids=["no-reason", "no-such-well", "unreadable", "bad-decision"],
)
def test_decision_refusals_in_place(tech_client, imported_plate, data, field, message):
    response = tech_client.post(qc_url(imported_plate), data)
    assert response.status_code == 200
    assert any(message in error for error in field_errors(response, field))
    assert not Well.objects.filter(excluded__isnull=False).exists()


def test_clicking_a_well_prefills_the_decision_form(tech_client, imported_plate):
    html = tech_client.get(qc_url(imported_plate, well="B5")).content.decode()
    assert re.search(r'name="position" value="B5"', html)


def test_the_qc_page_is_constant_in_queries(tech_client, assays, technician):
    def queries(plate) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert tech_client.get(qc_url(plate)).status_code == 200
        return len(captured)

    sizes = []
    for barcode, n_samples in (("Q-1", 1), ("Q-10", 10)):
        plate = plate_create(barcode=barcode)
        plate_layout(
            plate=plate,
            samples=[ReverseTranscriptionFactory() for _ in range(n_samples)],
            assays=assays,
        )
        plate_import_confirm(
            plate=plate, data=export_for(plate), filename=f"{barcode}.txt", user=technician
        )
        well_exclude(well=plate.wells.first(), user=technician, reason="check")
        sizes.append(queries(plate))
    assert sizes[0] == sizes[1]


def test_a_plate_without_results_shows_its_layout_undetermined(tech_client, laid_out_plate):
    html = tech_client.get(qc_url(laid_out_plate)).content.decode()
    assert html.count('<td class="hm undetermined') == 21 and "--heat" not in html


def test_analysts_may_not_see_or_decide(analyst_client, imported_plate):
    assert analyst_client.get(qc_url(imported_plate)).status_code == 403
    response = analyst_client.post(
        qc_url(imported_plate), {"position": "A1", "decision": "exclude", "reason": "x"}
    )
    assert response.status_code == 403
