"""The import pages cannot overwrite by accident, and the plate page can revert.

Nothing dangerous has the focus, Confirm is not the first control, a change needs
"replace" and a reason, a file that mostly disagrees with the layout needs a curator,
a multiplex file needs its dyes mapped, and every import can be reverted from the
plate page (and the upload page)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank.models import PlateImport, QpcrPlate, Well, WellImportChange
from biobank.services.plate_import import plate_import_confirm
from biobank.services.plates import plate_create, plate_layout

from ..factories import ReverseTranscriptionFactory
from ..instruments.exports import real_export
from ..test_import_safety import MAESTRO, multiplex_plate
from ..test_plates import export_for, lc480_export
from .conftest import messages_of, text
from .test_plate_import import preview_url, upload

pytestmark = pytest.mark.django_db


def main_html(response) -> str:
    return response.content.decode().split("<main>", 1)[1]


def first_control(html: str) -> str:
    """The first button or visible input of the page's content."""
    match = re.search(
        r'<(button|select|textarea)[^>]*>[^<]*|<input(?![^>]*type="hidden")[^>]*>', html
    )
    return match.group(0) if match else ""


@pytest.fixture
def filled_plate(laid_out_plate, technician):
    plate_import_confirm(
        plate=laid_out_plate, data=export_for(laid_out_plate), filename="run1.txt", user=technician
    )
    return laid_out_plate


def changed_export(plate) -> bytes:
    return export_for(plate, cq=lambda well: 30.0)


def test_confirm_is_never_focused_nor_first(tech_client, filled_plate):
    upload(tech_client, filled_plate, changed_export(filled_plate))
    page = tech_client.get(preview_url(filled_plate))
    html = main_html(page)
    assert "autofocus" not in html
    assert "Confirm the import" in html and "Confirm" not in first_control(html)
    assert "Discard the upload" in first_control(html)
    assert "more than 50 %" in text(page)  # the threshold is stated
    assert "its exclusion decision" in text(page) or "exclusion decision" in text(page)


def test_a_change_needs_replace_and_a_reason(tech_client, filled_plate):
    before = list(filled_plate.wells.order_by("pk").values_list("cq", flat=True))
    upload(tech_client, filled_plate, changed_export(filled_plate))
    page = tech_client.get(preview_url(filled_plate))
    assert "18 to change" in text(page) and 'name="replace"' in page.content.decode()
    assert "Touches 2 patients" in text(page) and "Re-runs the analysis paper-default" in text(page)
    refused = tech_client.post(preview_url(filled_plate), {"action": "confirm"})
    form = refused.context["confirm_form"]
    assert "changes 18 existing Cq values" in form.errors["replace"][0]
    assert "reason for replacing" in form.errors["reason"][0]
    assert list(filled_plate.wells.order_by("pk").values_list("cq", flat=True)) == before
    assert PlateImport.objects.count() == 1
    done = tech_client.post(
        preview_url(filled_plate),
        {"action": "confirm", "replace": "on", "reason": "re-read with a new baseline"},
        follow=True,
    )
    assert any("18 changed" in message for message in messages_of(done))
    assert Well.objects.filter(cq=30.0).count() == 18


def test_a_mostly_disagreeing_file_needs_a_curator(tech_client, curator_client, laid_out_plate):
    wells = list(laid_out_plate.wells.order_by("row", "column"))
    data = lc480_export([(w.position, f"other-{w.pk}", "21.00") for w in wells])
    upload(tech_client, laid_out_plate, data)
    page = tech_client.get(preview_url(laid_out_plate))
    assert "Confirm the import" not in page.content.decode()
    assert "A technician cannot confirm it; ask a curator" in text(page)
    refused = tech_client.post(preview_url(laid_out_plate), {"action": "confirm"})
    assert "A technician cannot confirm it" in text(refused)
    assert not PlateImport.objects.exists()

    upload(curator_client, laid_out_plate, data)
    page = curator_client.get(preview_url(laid_out_plate)).content.decode()
    assert "Confirm the import" in page and 'name="override_reason"' in page
    refused = curator_client.post(preview_url(laid_out_plate), {"action": "confirm"})
    assert (
        "give the reason for overriding"
        in refused.context["confirm_form"].errors["override_reason"][0]
    )
    curator_client.post(
        preview_url(laid_out_plate),
        {"action": "confirm", "override_reason": "names typed on the wrong instrument"},
    )
    assert PlateImport.objects.get().wells_mismatched == 21


def test_nothing_importable_is_refused_on_upload(tech_client, filled_plate):
    response = upload(
        tech_client, filled_plate, export_for(filled_plate).replace(b"Experiment:", b"Exp.:")
    )
    assert "Nothing to import" in text(response) and "Confirm the import" not in text(response)
    assert tech_client.get(preview_url(filled_plate)).status_code == 302  # nothing kept


def test_the_dye_mapping_is_chosen_on_the_preview(tech_client, technician):
    plate = multiplex_plate(technician)
    upload(tech_client, plate, real_export(MAESTRO), name="maestro.csv")
    page = tech_client.get(preview_url(plate))
    html = page.content.decode()
    assert "Which assay does each dye read?" in html and "Confirm the import" not in html
    assert "48 unresolved" in text(page)
    mapped = tech_client.post(
        preview_url(plate),
        {"action": "map", "dye_0": "hsa-miR-122-5p", "dye_1": "cel-miR-39-3p"},
    )
    assert mapped.status_code == 302
    page = tech_client.get(preview_url(plate))
    assert "48 to fill" in text(page) and "Confirm the import" in text(page)
    assert 'value="hsa-miR-122-5p" selected' in page.content.decode()
    tech_client.post(preview_url(plate), {"action": "confirm"})
    plate.refresh_from_db()
    assert plate.dye_assays == {"FAM": "hsa-miR-122-5p", "VIC": "cel-miR-39-3p"}
    assert plate.wells.filter(cq__isnull=False).count() == 48


def test_revert_from_the_plate_page(tech_client, filled_plate, technician):
    record = PlateImport.objects.get()
    detail = reverse("web:plate_detail", args=[filled_plate.pk])
    page = tech_client.get(detail).content.decode()
    assert f'id="import-{record.pk}"' in page and "Revert</button>" in page
    revert = reverse("web:plate_import_revert", args=[filled_plate.pk, record.pk])
    refused = tech_client.post(revert, {"reason": "", "next": detail}, follow=True)
    assert any("give the reason" in message for message in messages_of(refused))
    assert Well.objects.filter(cq__isnull=False).count() == 18
    done = tech_client.post(revert, {"reason": "wrong plate file", "next": detail}, follow=True)
    assert done.redirect_chain[-1][0] == detail
    assert any("reverted" in message for message in messages_of(done))
    assert not Well.objects.filter(cq__isnull=False).exists()
    content = text(done)
    assert "reverted" in content and "wrong plate file" in content
    record.refresh_from_db()
    assert record.reverted_by == technician


def test_revert_goes_nowhere_outside_the_site(tech_client, filled_plate):
    record = PlateImport.objects.get()
    revert = reverse("web:plate_import_revert", args=[filled_plate.pk, record.pk])
    response = tech_client.post(revert, {"reason": "x", "next": "https://evil.example/"})
    assert response["Location"] == reverse("web:plate_detail", args=[filled_plate.pk])


def test_analysts_may_not_revert(analyst_client, filled_plate):
    record = PlateImport.objects.get()
    revert = reverse("web:plate_import_revert", args=[filled_plate.pk, record.pk])
    assert analyst_client.post(revert, {"reason": "x"}).status_code == 403
    assert PlateImport.objects.get().reverted_at is None


def test_the_upload_page_lists_the_imports_with_their_state(tech_client, filled_plate):
    page = text(tech_client.get(reverse("web:plate_import", args=[filled_plate.pk])))
    assert "Imports of this plate" in page and "run1.txt" in page and "live" in page


def test_the_preview_page_runs_a_constant_number_of_queries(tech_client, assays, technician):
    counts = {}
    for size, n_samples in ((96, 10), (384, 42)):
        plate = plate_create(barcode=f"WQ-{size}", plate_format=size)
        plate_layout(
            plate=plate,
            samples=[ReverseTranscriptionFactory() for _ in range(n_samples)],
            assays=assays,
        )
        plate_import_confirm(plate=plate, data=export_for(plate), filename="a.txt", user=technician)
        upload(tech_client, plate, export_for(plate, cq=lambda well: 30.0))
        with CaptureQueriesContext(connection) as queries:
            page = tech_client.get(preview_url(plate))
        assert page.status_code == 200
        counts[size] = len(queries)
    assert counts[96] == counts[384]
    # session, user, plate with counts, duplicate, layout, plans, perms, imports (2)
    assert counts[96] <= 12


class TestMultiplexQc:
    @pytest.fixture
    def plate(self, technician):
        plate = multiplex_plate(technician)
        plate_import_confirm(
            plate=plate,
            data=real_export(MAESTRO),
            filename=MAESTRO,
            user=technician,
            dye_assays={"FAM": "hsa-miR-122-5p", "VIC": "cel-miR-39-3p"},
        )
        return plate

    def test_both_assays_of_a_position_are_on_the_heat_map(self, tech_client, plate):
        html = tech_client.get(reverse("web:plate_qc", args=[plate.pk])).content.decode()
        assert html.count('class="hm multi') == 24
        assert 'href="?well=A1&amp;assay=cel-miR-39-3p#decide"' in html

    def test_an_ambiguous_position_asks_which_assay(self, tech_client, plate):
        url = reverse("web:plate_qc", args=[plate.pk])
        response = tech_client.post(
            url, {"position": "A1", "decision": "exclude", "reason": "bubble"}
        )
        assert "holds 2 assays" in response.context["form"].errors["assay"][0]
        assert not plate.wells.filter(excluded=True).exists()
        response = tech_client.post(
            url,
            {"position": "A1", "decision": "exclude", "reason": "bubble", "assay": "cel-miR-39-3p"},
        )
        assert response.status_code == 302
        excluded = plate.wells.get(excluded=True)
        assert excluded.position == "A1" and excluded.assay.target == "cel-miR-39-3p"


def test_revert_restores_a_cleared_decision(tech_client, filled_plate, curator):
    from biobank.services.plates import well_exclude

    well = filled_plate.wells.get(row=1, column=1)
    well_exclude(well=well, user=curator, reason="bubble")
    upload(tech_client, filled_plate, changed_export(filled_plate))
    tech_client.post(
        preview_url(filled_plate), {"action": "confirm", "replace": "on", "reason": "re-run"}
    )
    well.refresh_from_db()
    assert well.excluded is None and well.cq == 30.0
    record = PlateImport.objects.filter(reverted_at__isnull=True).latest("pk")
    assert WellImportChange.objects.get(plate_import=record, well=well).previous_excluded
    tech_client.post(
        reverse("web:plate_import_revert", args=[filled_plate.pk, record.pk]), {"reason": "no"}
    )
    well.refresh_from_db()
    assert well.excluded is True and well.exclusion_reason == "bubble"
    assert well.excluded_by == curator and QpcrPlate.objects.get().status == "imported"
