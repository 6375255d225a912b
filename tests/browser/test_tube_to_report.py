"""The whole bench chain in a real browser, without the admin: a draw, its aliquots, an
extraction batch, RNA, RT, a plate laid out by hand, the instrument's sample sheet, a
result file made from that sheet, preview, confirm, QC and the report that followed.

The sample sheet is the contract with the instrument: the result file here is built
from the downloaded sheet's own positions and names (as the LightCycler would write
them back), so the names match the layout by construction and nothing disagrees."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import expect

from analysis.models import AnalysisRun
from biobank.demo.cohort import generate_cohort
from biobank.demo.loader import load_cohort
from biobank.instruments import parse_export
from biobank.models import PlateImport, ReverseTranscription, SerumDraw, Well

from ..factories import BoxFactory, PatientFactory, TreatmentFactory
from ..test_plates import lc480_export
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def result_file_from_sheet(sheet: bytes) -> bytes:
    """A LightCycler Cp export for every well of a Sample Information sheet: the
    sample's wells amplify, the NTC does not."""
    wells = parse_export(sheet).wells
    assert wells, "the sample sheet lists no well"
    rows = []
    for number, well in enumerate(wells):
        cq = "" if well.sample_name == "NTC" else f"{24 + number % 3 / 10:.2f}"
        rows.append((well.position, well.sample_name, cq))
    return lc480_export(rows)


def test_from_the_draw_to_the_report_without_the_admin(page, shot, technician, reanalysis):
    # A demo cohort, so that the report has something to say; and one new patient.
    load_cohort(generate_cohort(75, 20260101))
    patient = PatientFactory(study_id="P-E2E")
    TreatmentFactory(patient=patient, performed_on=dt.date(2024, 5, 6))
    BoxFactory(barcode="BOX-E2E", name="Box E2E", rows=3, columns=3)
    runs_before = AnalysisRun.objects.count()

    log_in(page, technician.username)

    # The draw and two aliquots in our box.
    page.get_by_role("link", name="Register draw").click()
    page.select_option("#id_treatment", label="P-E2E · TACE 2024-05-06")
    page.get_by_label("Before TACE").check()
    page.fill("#id_drawn_at", "2024-05-06T08:00")
    page.fill("#id_serum_volume_ul", "1000")
    page.press("#id_serum_volume_ul", "Enter")
    draw = SerumDraw.objects.get(patient=patient)
    page.goto(f"/draws/{draw.pk}/aliquot/?box=BOX-E2E")
    for position in ("A1", "A2"):
        page.locator(f'button[data-position="{position}"]').click()
    page.fill("#id_volume_ul", "300")
    page.get_by_role("button", name="Create the aliquots").click()
    expect(page.locator(".label svg.barcode")).to_have_count(2)
    tubes = sorted(draw.aliquots.values_list("barcode", flat=True))
    shot("aliquots")

    # The extraction batch, by scanning the tubes.
    page.get_by_role("link", name="Extraction").click()
    page.fill("#id_code", "EXO-E2E")
    page.fill("#id_exoquick_lot", "EQ-1")
    page.fill("#id_spike_in_lot", "C39-1")
    page.fill("#id_aliquots", "\n".join(tubes))
    page.press("#id_aliquots", "Control+Enter")
    expect(page.locator("h1")).to_have_text("Batch EXO-E2E")
    expect(page.locator("#next-step")).to_contain_text("Isolate the RNA of 2 samples")
    shot("batch")

    # RNA for the whole batch, then RT: the batch page leads from one step to the next.
    page.locator("#next-step").get_by_role("link", name="Isolate RNA").click()
    page.get_by_label("Kit lot").fill("MV-9")
    page.get_by_role("button", name="Record the RNA isolation").click()
    expect(page.locator(".messages .success")).to_contain_text("RNA isolated for 2 samples")
    expect(page.locator("#next-step")).to_contain_text("Reverse-transcribe the RNA of 2")
    page.locator("#next-step").get_by_role("link", name="Reverse-transcribe").click()
    page.get_by_label("RT kit lot").fill("RT-LOT-4")
    page.get_by_role("button", name="Record the RT and make codes").click()
    products = list(
        ReverseTranscription.objects.filter(rna__isolation__aliquot__draw=draw).order_by("code")
    )
    assert [p.code for p in products] == [f"{tube}-RT1" for tube in tubes]
    expect(page.locator("#next-step")).to_contain_text("Lay out a plate")
    shot("rt-done")

    # The RT product's page: its lineage back to the draw.
    page.goto(f"/rt/{products[0].pk}/")
    expect(page.locator("main")).to_contain_text("P-E2E")
    expect(page.locator("main")).to_contain_text(tubes[0])
    shot("lineage")

    # A plate laid out by hand: the first tube for miR-122 and the spike-in, an NTC.
    page.goto("/plates/new/")
    page.get_by_label("Empty: I lay it out by hand on the plate map").check()
    page.fill("#id_barcode", "PL-E2E")
    page.get_by_role("button", name="Create the plate").click()
    for positions, assay in (("A1-A3", "hsa-miR-122-5p"), ("B1-B3", "cel-miR-39-3p")):
        page.fill("#id_edit-sample", products[0].code)
        for box in page.locator('input[name="edit-assays"]').all():
            box.uncheck()
        page.get_by_label(assay).check()
        page.fill("#id_edit-positions", positions)
        page.get_by_role("button", name="Place", exact=True).click()
        expect(page.locator(".messages .success")).to_contain_text("Placed")
    page.get_by_label("No-template control (NTC)").check()
    for box in page.locator('input[name="edit-assays"]').all():
        box.uncheck()
    page.get_by_label("hsa-miR-122-5p").check()
    page.fill("#id_edit-sample", "")
    page.fill("#id_edit-positions", "")
    page.locator('button.pick[data-position="H12"]').click()
    expect(page.locator("#id_edit-positions")).to_have_value("H12")
    page.get_by_role("button", name="Place", exact=True).click()
    expect(page.locator(".messages .success")).to_contain_text("Placed")
    plate = Well.objects.get(plate__barcode="PL-E2E", row=8, column=12).plate
    assert plate.wells.count() == 7
    shot("plate-by-hand")

    # The instrument's sample sheet, and a result file made from it.
    with page.expect_download() as download:
        page.get_by_role("link", name="LightCycler 480").click()
    sheet = Path(download.value.path()).read_bytes()
    results = result_file_from_sheet(sheet)

    # Upload, preview (every well fills, no name disagrees), confirm.
    page.get_by_role("link", name="Upload export").click()
    page.set_input_files(
        "#id_file",
        files=[{"name": "PL-E2E-cp.txt", "mimeType": "text/plain", "buffer": results}],
    )
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator(".preview-summary")).to_contain_text("6 to fill")
    expect(page.locator('tr[data-name="disagrees"]')).to_have_count(0)
    shot("preview")
    confirm = page.get_by_role("button", name="Confirm the import")
    expect(confirm).not_to_be_focused()
    confirm.click()
    expect(page.locator(".messages .success")).to_contain_text("6 wells filled")
    expect(page.locator("table.heatmap")).to_be_visible()
    shot("qc")
    record = PlateImport.objects.get(plate=plate)
    assert record.imported_by == technician and record.wells_mismatched == 0
    assert plate.wells.filter(cq__isnull=False).count() == 6

    # The re-analysis the import triggered, and its report.
    run = AnalysisRun.objects.order_by("-pk").first()
    assert AnalysisRun.objects.count() > runs_before
    assert run.trigger == AnalysisRun.Trigger.DATA_CHANGE
    page.get_by_role("link", name="Analyses").click()
    page.get_by_role("link", name=f"#{run.pk}").first.click()
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Table I")
    shot("report")
