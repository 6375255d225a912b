"""The bench flows in a real browser: log in, register a draw, aliquot it into a box by
clicking the grid, check a tube out and in, lay out a plate, upload its export,
confirm the preview, exclude a well."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from biobank.models import Aliquot, PlateImport, SerumDraw, StorageEvent, Well

from ..factories import (
    AliquotFactory,
    BoxFactory,
    PatientFactory,
    ReverseTranscriptionFactory,
    TreatmentFactory,
    study_assays,
)
from ..test_plates import lc480_export
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_register_a_draw_and_aliquot_it_by_clicking_the_grid(page, shot, technician):
    patient = PatientFactory(study_id="P-101")
    TreatmentFactory(patient=patient, performed_on=dt.date(2014, 3, 3))
    box = BoxFactory(barcode="BOX-A", name="Box A", rows=4, columns=6)
    AliquotFactory(barcode="ALREADY-HERE", box=box, row=1, column=1)

    page.goto("/")
    expect(page).to_have_url("/login/?next=/")
    shot("login")
    log_in(page, technician.username)
    shot("home")

    page.get_by_role("link", name="Register draw").click()
    expect(page.locator("#id_treatment")).to_be_focused()
    page.get_by_role("button", name="Register the draw").click()
    expect(page.locator(".has-error")).to_have_count(4)  # treatment, timepoint, drawn at, volume
    shot("draw-errors")

    page.select_option("#id_treatment", label="P-101 · TACE 2014-03-03")
    page.get_by_label("After TACE").check()
    page.fill("#id_drawn_at", "2014-03-15T09:00")  # day 12: outside the 5-10 day window
    page.fill("#id_serum_volume_ul", "1000")
    page.press("#id_serum_volume_ul", "Enter")
    expect(page.locator(".messages .warning")).to_contain_text("outside the 5-10 day window")
    expect(page.locator("#id_count")).to_be_focused()
    draw = SerumDraw.objects.get(patient=patient)
    assert draw.outside_window

    taken = page.locator('button[data-position="A1"]')
    expect(taken).to_be_disabled()
    expect(taken).to_contain_text("ALREADY-HERE")
    taken.click(force=True)  # a taken position cannot be chosen
    expect(page.locator("#id_positions")).to_have_value("")
    for position in ("B1", "B2", "B3"):
        page.locator(f'button[data-position="{position}"]').click()
    page.locator('button[data-position="B2"]').click()  # a second click un-chooses it
    page.locator('button[data-position="C4"]').click()
    expect(page.locator("#id_positions")).to_have_value("B1 B3 C4")
    expect(page.locator("#id_count")).to_have_value("3")
    expect(page.locator("button.cell.chosen")).to_have_count(3)
    page.fill("#id_volume_ul", "300")
    shot("grid-chosen")
    page.get_by_role("button", name="Create the aliquots").click()

    expect(page.locator(".label svg.barcode")).to_have_count(3)
    shot("labels")
    placed = dict(Aliquot.objects.filter(draw=draw).values_list("barcode", "row"))
    assert sorted(a.position for a in Aliquot.objects.filter(draw=draw)) == ["B1", "B3", "C4"]
    assert set(placed) == {"P-101-POST-01", "P-101-POST-02", "P-101-POST-03"}

    page.goto(f"/draws/{draw.pk}/aliquot/")
    expect(page.locator('button[data-position="B3"]')).to_be_disabled()
    page.locator('button[data-position="A2"]').click()
    page.fill("#id_volume_ul", "50")
    page.locator("#id_positions").fill("B1")  # typed over the click: taken since a moment ago
    page.press("#id_positions", "Enter")
    shot("taken-position-refused")
    expect(page.locator(".has-error .errorlist")).to_contain_text("already holds aliquot")
    shot("taken-position-refused")


def test_check_a_tube_out_and_back_in(page, shot, technician):
    box = BoxFactory(barcode="BOX-B", name="Box B", rows=3, columns=3)
    aliquot = AliquotFactory(barcode="TUBE-42", box=box, row=2, column=2)

    log_in(page, technician.username)
    page.fill("#quick-scan", "TUBE-42")
    page.press("#quick-scan", "Enter")
    expect(page.locator(".big-code")).to_have_text("TUBE-42")
    expect(page.locator("#quick-scan")).to_be_focused()
    shot("sample")

    page.fill("#check-out-reason", "qPCR rerun")
    page.press("#check-out-reason", "Enter")
    expect(page.locator(".messages .success")).to_contain_text("Check out: TUBE-42")
    expect(page.locator(".sample-header")).to_contain_text("Checked out")
    shot("checked-out")

    page.goto("/")
    expect(page.locator("#checked-out")).to_contain_text("TUBE-42")
    expect(page.locator("#checked-out")).to_contain_text("qPCR rerun")
    shot("home-worklist")

    page.locator("#checked-out").get_by_role("link", name="TUBE-42").click()
    page.get_by_role("link", name="Check in…").click()
    expect(page.locator("table.box-grid")).to_have_attribute("data-box", "BOX-B")
    expect(page.locator("#id_position")).to_be_focused()
    page.locator('button[data-position="C3"]').click()
    page.locator('button[data-position="A1"]').click()  # one position: the last click wins
    expect(page.locator("#id_position")).to_have_value("A1")
    page.fill("#id_reason", "back from the bench")
    shot("check-in")
    page.press("#id_reason", "Enter")

    expect(page.locator(".messages .success")).to_contain_text("Check in: TUBE-42")
    shot("checked-in")
    aliquot.refresh_from_db()
    assert (aliquot.status, aliquot.position) == ("stored", "A1")
    assert list(StorageEvent.objects.filter(aliquot=aliquot).values_list("kind", flat=True)) == [
        "check_out",
        "check_in",
    ]


def export_with_an_outlier(plate) -> bytes:
    """Cq for every laid-out well; A3 sits 5 cycles off its triplicate."""
    rows = []
    for well in plate.wells.select_related("sample").order_by("row", "column"):
        cq = "" if well.kind == "ntc" else f"{20 + well.column / 100:.2f}"
        rows.append((well.position, well.sample.code if well.sample_id else "NTC", cq))
    rows[2] = (rows[2][0], rows[2][1], "25.00")
    return lc480_export(rows)


def test_lay_out_a_plate_upload_its_export_and_exclude_a_well(page, shot, technician):
    study_assays()
    for code in ("RT-1", "RT-2"):
        ReverseTranscriptionFactory(code=code)

    log_in(page, technician.username)
    page.get_by_role("link", name="Plates").click()
    page.get_by_role("link", name="Lay out a new plate").click()
    page.fill("#id_barcode", "PL-77")
    page.fill("#id_samples", "RT-1\nRT-9")
    page.press("#id_samples", "Control+Enter")
    expect(page.locator(".has-error .errorlist")).to_contain_text("No RT product has the code RT-9")
    shot("layout-error")
    page.fill("#id_samples", "RT-1\nRT-2")
    page.press("#id_samples", "Control+Enter")

    expect(page.locator("table.plate-map td.well.assay-0")).to_have_count(2 * 3 + 1)  # and its NTC
    shot("plate-map")
    plate = Well.objects.first().plate
    assert plate.barcode == "PL-77" and plate.wells.count() == 21

    page.get_by_role("link", name="Upload export").click()
    page.set_input_files(
        "#id_file",
        files=[
            {"name": "PL-77.txt", "mimeType": "text/plain", "buffer": export_with_an_outlier(plate)}
        ],
    )
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator(".preview-summary")).to_contain_text("18 to fill")
    assert not PlateImport.objects.exists() and not Well.objects.filter(cq__isnull=False).exists()
    shot("preview")
    confirm = page.get_by_role("button", name="Confirm the import")
    expect(confirm).not_to_be_focused()  # never the default: Enter confirms nothing
    confirm.click()

    expect(page.locator(".messages .success")).to_contain_text("18 wells filled")
    expect(page.locator("table.heatmap td.excluded")).to_have_count(1)  # A3, by the QC
    expect(page.locator("#exclusions")).to_contain_text("replicate 3 is 4.98 cycles")
    shot("qc")
    assert PlateImport.objects.get().imported_by == technician

    page.locator('table.heatmap a[data-position="B1"]').click()
    expect(page.locator("#id_position")).to_have_value("B1")
    page.get_by_role("button", name="Save the decision").click()
    expect(page.locator("#decide .has-error .errorlist")).to_contain_text("Give the reason")
    shot("exclusion-needs-reason")
    page.fill("#id_reason", "bubble in the well")
    page.press("#id_reason", "Enter")

    expect(page.locator(".messages .success")).to_contain_text("Well B1: decision saved")
    expect(page.locator("table.heatmap td.excluded")).to_have_count(2)
    expect(page.locator("#exclusions")).to_contain_text("bubble in the well")
    shot("well-excluded")
    well = plate.wells.get(row=2, column=1)
    assert well.excluded is True and well.exclusion_reason == "bubble in the well"


def test_record_an_extraction_batch_by_scanning_tubes(page, shot, technician):
    box = BoxFactory(barcode="BOX-C", rows=2, columns=2)
    for column, barcode in ((1, "EXO-TUBE-1"), (2, "EXO-TUBE-2")):
        AliquotFactory(barcode=barcode, box=box, row=1, column=column)

    log_in(page, technician.username)
    page.get_by_role("link", name="Extraction").click()
    expect(page.locator("#id_code")).to_be_focused()
    page.fill("#id_code", "EXO-2024-01")
    page.fill("#id_exoquick_lot", "EQ-7")
    page.fill("#id_spike_in_lot", "C39-2")
    page.fill("#id_serum_volume_ul", "200")
    page.locator("#id_aliquots").click()
    for barcode in ("EXO-TUBE-1", "EXO-TUBE-2", "NO-SUCH-TUBE"):
        page.keyboard.type(barcode)
        page.keyboard.press("Enter")  # the scanner's Enter: a new line, not a submit
    page.keyboard.press("Control+Enter")
    expect(page.locator(".has-error .errorlist")).to_contain_text("NO-SUCH-TUBE")
    expect(page.locator("#id_aliquots")).to_be_focused()  # the field in error, not the first
    shot("unknown-tube")

    page.fill("#id_aliquots", "EXO-TUBE-1\nEXO-TUBE-2\n")
    page.press("#id_aliquots", "Control+Enter")
    expect(page.locator("h1")).to_have_text("Batch EXO-2024-01")
    shot("batch")
    assert sorted(Aliquot.objects.values_list("volume_ul", flat=True)) == [50, 50]
