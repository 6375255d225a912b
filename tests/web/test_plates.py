"""Plates: the list, setting one up in one form, and the printable map."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank.models import QpcrPlate, Well
from biobank.services.plates import plate_create, plate_layout

from ..factories import ReverseTranscriptionFactory
from .conftest import field_errors, text

pytestmark = pytest.mark.django_db

SETUP = reverse("web:plate_setup")


def setup_data(study_assays, **overrides):
    data = {
        "barcode": "PL-NEW",
        "plate_format": "96",
        "instrument": "Roche LightCycler 480 II",
        "samples": "RT-A\r\nRT-B\r\n",
        "assays": [a.pk for a in study_assays],
        "replicates": "3",
        "ntc_replicates": "1",
        "calibrator": "",
    }
    return {**data, **overrides}


@pytest.fixture
def rts(assays):
    return [ReverseTranscriptionFactory(code=code) for code in ("RT-A", "RT-B", "RT-C")]


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


class TestSetUp:
    def test_the_form_checks_every_assay_and_focuses_the_barcode(self, tech_client, assays):
        html = tech_client.get(SETUP).content.decode()
        assert html.count('name="assays"') == 3
        assert html.count("checked") == 3 + 1  # and "fill it from the list" is the default
        assert 'name="barcode" autofocus' in html.replace('type="text" ', "")

    def test_samples_x_assays_x_triplicates_then_ntcs(self, tech_client, rts, assays, technician):
        response = tech_client.post(SETUP, setup_data(assays))
        plate = QpcrPlate.objects.get()
        assert response["Location"] == reverse("web:plate_detail", args=[plate.pk])
        assert plate.operator == technician
        assert plate.wells.count() == 2 * 3 * 3 + 3
        assert (
            list(plate.wells.order_by("row", "column").values_list("sample__code", flat=True)[:9])
            == ["RT-A"] * 9
        )

    def test_a_calibrator_is_laid_out_too(self, tech_client, rts, assays):
        tech_client.post(SETUP, setup_data(assays, calibrator="RT-C"))
        assert Well.objects.filter(kind="calibrator").count() == 9

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"samples": "RT-A\nRT-X"}, "samples", "No RT product has the code RT-X"),
            ({"samples": "RT-A RT-A"}, "samples", "A sample is listed twice"),
            ({"samples": ""}, "samples", "required"),
            ({"replicates": "9"}, "replicates", "between 1 and 6"),
            ({"barcode": "PL-OLD"}, "barcode", "already exists"),
            ({"assays": []}, "assays", "required"),
            ({"calibrator": "RT-NONE"}, "calibrator", "No RT product has the code RT-NONE"),
        ],
        ids=[
            "unknown-rt",
            "twice",
            "no-samples",
            "replicates",
            "duplicate-plate",
            "no-assays",
            "calibrator",
        ],
    )
    def test_refusals_in_place(self, tech_client, rts, assays, overrides, field, message):
        plate_create(barcode="PL-OLD")
        response = tech_client.post(SETUP, setup_data(assays, **overrides))
        errors = field_errors(response, field)
        assert any(message in error for error in errors), response.context["form"].errors
        assert not QpcrPlate.objects.filter(barcode="PL-NEW").exists()

    def test_a_layout_that_does_not_fit_leaves_no_empty_plate(self, tech_client, assays):
        codes = [ReverseTranscriptionFactory(code=f"RT-{n:02d}").code for n in range(11)]
        response = tech_client.post(SETUP, setup_data(assays, samples="\n".join(codes)))
        assert "needs 102 wells" in field_errors(response, "samples")[0]
        assert not QpcrPlate.objects.exists() and not Well.objects.exists()

    def test_analysts_may_not_set_up_plates(self, analyst_client, rts, assays):
        assert analyst_client.post(SETUP, setup_data(assays)).status_code == 403


class TestListAndMap:
    def test_the_list_is_constant_in_queries(self, tech_client, laid_out_plate, assays):
        one = count_queries(tech_client, reverse("web:plate_list"))
        for n in range(4):
            plate = plate_create(barcode=f"PL-X{n}")
            plate_layout(plate=plate, samples=[ReverseTranscriptionFactory()], assays=assays)
        assert count_queries(tech_client, reverse("web:plate_list")) == one
        page = text(tech_client.get(reverse("web:plate_list")))
        assert "PL-W1 96 Laid out 21 0" in page

    def test_the_map_shows_each_well_and_prints(self, tech_client, laid_out_plate):
        html = tech_client.get(
            reverse("web:plate_detail", args=[laid_out_plate.pk])
        ).content.decode()
        assert html.count('class="well assay-') == 21 + 3  # wells and the legend
        assert html.count('class="well empty"') == 96 - 21
        assert 'aria-label="Code 128 barcode PL-W1"' in html and "data-print" in html
        assert "hsa-miR-122-5p" in html and "NTC" in html

    def test_the_map_is_constant_in_queries(self, tech_client, assays):
        small = plate_create(barcode="PL-S")
        plate_layout(plate=small, samples=[ReverseTranscriptionFactory()], assays=assays)
        full = plate_create(barcode="PL-F")
        plate_layout(
            plate=full, samples=[ReverseTranscriptionFactory() for _ in range(10)], assays=assays
        )
        assert count_queries(
            tech_client, reverse("web:plate_detail", args=[small.pk])
        ) == count_queries(tech_client, reverse("web:plate_detail", args=[full.pk]))

    def test_an_unknown_plate_is_404(self, tech_client):
        for name in ("plate_detail", "plate_import", "plate_qc", "plate_import_preview"):
            assert tech_client.get(reverse(f"web:{name}", args=[404])).status_code == 404
