"""Issue 15's acceptance: a rack-scanner file with a NO READ and one moved tube,
previewed and confirmed in the browser, and the database checked."""

from __future__ import annotations

import pytest

from biobank.models import Aliquot, RackScanImport, StorageEvent

from ..factories import AliquotFactory, BoxFactory, UserFactory
from ..test_rack_scan import FIXTURE, code, fill
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rack_scan_with_a_no_read_and_a_moved_tube(page, shot):
    UserFactory(username="tech-rack", groups=["technician"])
    box = BoxFactory(barcode="RK00000101", rows=8, columns=12)
    fill(box, range(1, 95))  # FX10000084 recorded at G12, which the scanner could not read
    AliquotFactory(barcode=code(95), box=BoxFactory(barcode="OLD-BOX"), row=3, column=4)

    log_in(page, "tech-rack")
    page.goto(f"/boxes/{box.pk}/")
    page.click("#rack-scan-link")
    page.set_input_files("#id_file", str(FIXTURE))
    page.click("#rack-scan-upload button[type=submit]")
    page.wait_for_url(f"**/boxes/{box.pk}/scan/preview/")

    summary = page.locator("#rack-scan-summary")
    assert "1 moved" in summary.inner_text() and "2 unread" in summary.inner_text()
    assert page.locator("[data-position=H11][data-kind=moved]").count() == 1
    assert page.locator("[data-position=G12][data-kind=unread]").count() == 1
    table = page.locator("#rack-scan-positions").inner_text()
    assert "FX10000095 moved here from OLD-BOX C4" in table
    assert "no code read; FX10000084 is recorded here and stays" in table
    page.set_viewport_size({"width": 1024, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    shot("preview")
    assert Aliquot.objects.get(barcode=code(95)).box.barcode == "OLD-BOX"  # nothing yet

    page.fill("#id_reason", "rack re-scanned after the audit")
    page.click("#confirm button[type=submit]")
    page.wait_for_url(f"**/boxes/{box.pk}/")
    assert "1 moved" in page.locator(".messages, .message, body").first.inner_text()
    shot("confirmed")

    moved = Aliquot.objects.get(barcode=code(95))
    assert (moved.box_id, moved.position) == (box.pk, "H11")
    unread = Aliquot.objects.get(barcode=code(84))
    assert (unread.box_id, unread.position) == (box.pk, "G12")
    event = StorageEvent.objects.get()
    assert (event.aliquot_id, event.kind, event.to_label) == (moved.pk, "move", "RK00000101 H11")
    assert event.reason == "rack scan RK00000101.csv: rack re-scanned after the audit"
    record = RackScanImport.objects.get()
    assert (record.tubes_moved, record.positions_unread, record.imported_by.username) == (
        1,
        2,
        "tech-rack",
    )
