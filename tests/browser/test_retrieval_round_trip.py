"""Issue 15's acceptance for retrieval: a technician asks for tubes, a curator
approves, the pick list is printed, the tubes are checked out in one scan and
returned in one scan to the positions kept for them."""

from __future__ import annotations

import pytest

from biobank.models import Aliquot, PositionReservation, RetrievalRequest

from ..factories import AliquotFactory, BoxFactory, UserFactory
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_request_approval_pick_list_check_out_and_back(page, shot, chromium, live_server):
    UserFactory(username="tech-rq", groups=["technician"])
    UserFactory(username="cur-rq", groups=["curator"])
    box = BoxFactory(barcode="BOX-RQ", rows=3, columns=3)
    tubes = [AliquotFactory(box=box, row=r, column=c) for r, c in ((2, 3), (1, 2), (1, 1))]
    barcodes = [t.barcode for t in tubes]
    page.set_viewport_size({"width": 1024, "height": 800})

    log_in(page, "tech-rq")
    page.click("header nav >> text=Requests")
    page.click("text=Ask for tubes")
    page.fill("#id_purpose", "miR-122 validation")
    page.fill("#id_barcodes", "\n".join(barcodes))
    shot("1-ask")
    page.click("button[name=submit]")
    page.wait_for_selector("text=submitted to the curators")
    request = RetrievalRequest.objects.get()
    assert request.status == "submitted" and request.items.count() == 3
    shot("2-submitted")

    curator = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1024, "height": 800}
    )
    cpage = curator.new_page()
    log_in(cpage, "cur-rq")
    cpage.goto(f"/requests/{request.pk}/")
    cpage.click("text=Approve the 3 eligible tubes")
    cpage.wait_for_selector("text=Request " + request.code + " approved")
    cpage.screenshot(path=str(shot("3-approved")), full_page=True)
    curator.close()

    page.goto(f"/requests/{request.pk}/pick-list/")
    rows = page.locator("#pick-list tbody tr td:nth-child(6)").all_inner_texts()
    assert rows == [barcodes[2], barcodes[1], barcodes[0]]  # A1, A2, B3
    shot("4-pick-list")
    page.fill("#id_out-codes", "\n".join(barcodes))
    page.click("#check-out-form button[type=submit]")
    page.wait_for_selector("text=3 tube(s) checked out.")
    assert set(Aliquot.objects.values_list("status", flat=True)) == {"out"}
    assert PositionReservation.objects.count() == 3
    shot("5-checked-out")

    page.fill("#id_back-codes", "\n".join(barcodes))
    page.click("#return-form button[type=submit]")
    page.wait_for_selector("text=3 tube(s) returned.")
    shot("6-returned")
    request.refresh_from_db()
    assert request.status == "fulfilled"
    assert not PositionReservation.objects.exists()
    for tube in tubes:
        placed = Aliquot.objects.get(pk=tube.pk)
        assert (placed.box_id, placed.row, placed.column) == (box.pk, tube.row, tube.column)
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 1024
