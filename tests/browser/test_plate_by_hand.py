"""A plate laid out by hand in a real browser: click wells to choose them, place an RT
product and an inter-run calibrator as a multiplex, move and clear, download the sheet;
the map fits a 1024 px screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from biobank.models import QpcrPlate

from ..factories import ReverseTranscriptionFactory, study_assays
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_lay_out_a_plate_by_clicking_wells(page, shot, technician):
    study_assays()
    ReverseTranscriptionFactory(code="RT-H1")
    ReverseTranscriptionFactory(code="RT-IRC")

    log_in(page, technician.username)
    page.goto("/plates/new/")
    page.get_by_label("Empty: I lay it out by hand on the plate map").check()
    page.fill("#id_barcode", "PL-BH")
    page.get_by_role("button", name="Create the plate").click()
    expect(page.locator(".messages .success")).to_contain_text("lay it out below")
    expect(page.locator("#recent-rt-products option")).to_have_count(2)

    for position in ("A1", "A2", "A3", "B1"):
        page.locator(f'button.pick[data-position="{position}"]').click()
    page.locator('button.pick[data-position="B1"]').click()  # a second click un-chooses it
    expect(page.locator("#id_edit-positions")).to_have_value("A1 A2 A3")
    page.fill("#id_edit-sample", "RT-H1")
    page.get_by_label("hsa-miR-122-5p").check()
    page.get_by_role("button", name="Place", exact=True).click()
    expect(page.locator(".messages .success")).to_contain_text("Placed RT-H1 in 3 positions")
    expect(page.locator("#id_edit-sample")).to_have_value("RT-H1")  # kept for the next

    page.get_by_label("Inter-run calibrator (RT product)").check()
    page.fill("#id_edit-sample", "RT-IRC")
    page.get_by_label("cel-miR-39-3p").check()
    page.fill("#id_edit-positions", "H1-H2")  # typed, no clicks
    page.get_by_role("button", name="Place", exact=True).click()
    expect(page.locator("td.well.multiplex.kind-irc")).to_have_count(2)
    shot("placed")

    page.locator('button.pick[data-position="H2"]').click()
    page.locator('button.pick[data-position="G12"]').click()
    page.get_by_role("button", name="Move (source, then target)").click()
    expect(page.locator('td.well.multiplex[title^="G12"]')).to_have_count(1)

    page.fill("#id_edit-positions", "A3 Z1")
    page.get_by_role("button", name="Clear the positions").click()
    expect(page.locator(".has-error .errorlist")).to_contain_text("'Z1' is not a position like A1")
    page.locator('button.pick[data-position="A3"]').click()  # chosen on top of the typed text
    page.fill("#id_edit-positions", "A3")
    page.get_by_role("button", name="Clear the positions").click()
    expect(page.locator(".messages .success")).to_contain_text("Cleared 1 positions")
    plate = QpcrPlate.objects.get(barcode="PL-BH")
    assert sorted({w.position for w in plate.wells.all()}) == ["A1", "A2", "G12", "H1"]

    with page.expect_download() as download:
        page.get_by_role("link", name="LightCycler 480").click()
    assert download.value.suggested_filename == "PL-BH-lc480-sample-information.txt"

    page.set_viewport_size({"width": 1024, "height": 800})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a 1024 px screen"
    shot("at-1024")
