"""A rack of 96 tubes checked out from the bulk page in a real browser at 1024 px: the
preview lists every tube (the refused one in red) without widening the page, the
confirm does the rest."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from biobank.models import Aliquot, StorageEvent

from ..factories import AliquotFactory, BoxFactory, SerumDrawFactory
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rack_previewed_and_confirmed_at_1024_px(page, shot, technician):
    box = BoxFactory(barcode="RACK-96", rows=8, columns=12)
    draw = SerumDrawFactory()
    for i in range(96):
        AliquotFactory(
            barcode=f"R96-{i:02d}-A-LONG-BARCODE",
            draw=draw,
            box=box,
            row=i // 12 + 1,
            column=i % 12 + 1,
        )
    page.set_viewport_size({"width": 1024, "height": 800})
    page.goto("/")
    log_in(page, technician.username)
    page.get_by_role("link", name="Many tubes").click()
    codes = [f"R96-{i:02d}-A-LONG-BARCODE" for i in range(96)] + ["NOT-A-TUBE"]
    page.get_by_label("Check out").check()
    page.get_by_label("Tubes").fill("\n".join(codes))
    page.get_by_label("Reason").fill("extraction run 12")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#bulk-result")).to_contain_text("96 to do")
    expect(page.locator("tr.refused")).to_contain_text("No tube has barcode NOT-A-TUBE")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    shot("bulk-preview")
    assert not StorageEvent.objects.exists()

    page.get_by_role("button", name="Confirm: check out 96 tubes").click()
    expect(page.locator(".messages")).to_contain_text("96 tube(s) done, 1 refused.")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    shot("bulk-done")
    assert Aliquot.objects.filter(status="out").count() == 96
