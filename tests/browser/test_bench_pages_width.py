"""Every page of the bench fits a 1024 px screen: wide tables wrap or scroll inside
their card; the page itself never scrolls sideways (issue 15's acceptance)."""

from __future__ import annotations

import pytest

from biobank.models import QpcrPlate
from biobank.services.plates import plate_create, plate_layout
from biobank.services.retrieval import request_approve, request_create, request_submit

from ..factories import ReverseTranscriptionFactory, UserFactory, study_assays
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def bench_urls() -> list[str]:
    product = ReverseTranscriptionFactory(code="DEMO-0001-PRE-01-RT1")
    tube = product.rna.isolation.aliquot
    draw, batch = tube.draw, product.rna.isolation.batch
    assays = study_assays()
    plate = plate_create(barcode="PL-WIDTH-1", plate_format=QpcrPlate.Format.WELLS_96)
    plate_layout(plate=plate, samples=[product], assays=assays[:2])
    asker = UserFactory(username="tech-width-requests", groups=["technician"])
    retrieval = request_create(
        user=asker, purpose="width check of the request pages", barcodes=[tube.barcode]
    )
    request_submit(request=retrieval, user=asker)
    request_approve(
        request=retrieval, user=UserFactory(username="cur-width-requests", groups=["curator"])
    )
    # Issue 14: a run with the two dilution series imported, its curves on the QC page.
    from biobank.services.plate_import import plate_import_confirm

    from ..test_plate_standards import _place_reference_series

    curves = plate_create(barcode="PL-WIDTH-STD", plate_format=QpcrPlate.Format.WELLS_96)
    data, _ = _place_reference_series(curves, {a.target: a for a in assays}, with_quantities=True)
    plate_import_confirm(plate=curves, data=data, filename="std.txt", user=None)
    mir122 = next(a for a in assays if a.target == "hsa-miR-122-5p")
    return [
        "/",
        "/search/?q=demo",
        f"/patients/{draw.patient.study_id}/",
        "/samples/",
        "/samples/bulk/",
        "/samples/?status=stored&ordering=-volume_ul",
        "/draws/?timepoint=PRE&ordering=-drawn_at",
        "/patients/?withdrawn=false&ordering=age_at_enrolment",
        f"/samples/{tube.pk}/",
        f"/samples/{tube.pk}/check-out/",
        f"/samples/{tube.pk}/move/",
        f"/samples/{tube.pk}/thaw/",
        "/boxes/?space=4",
        f"/boxes/{tube.box_id}/",
        f"/boxes/{tube.box_id}/move/",
        f"/freezers/{tube.box.rack.freezer_id}/evacuate/",
        f"/boxes/{tube.box_id}/scan/",
        "/rack-scans/",
        "/draws/new/",
        f"/draws/{draw.pk}/aliquot/",
        f"/draws/{draw.pk}/labels/",
        "/extractions/new/",
        f"/extractions/{batch.pk}/",
        "/rna/scan/",
        "/rt/scan/",
        f"/rt/labels/?codes={product.code}",
        f"/rt/{product.pk}/",
        "/plates/",
        "/plates/new/",
        f"/plates/{plate.pk}/",
        f"/plates/{plate.pk}/import/",
        "/requests/",
        "/requests/new/",
        f"/requests/{retrieval.pk}/",
        f"/requests/{retrieval.pk}/pick-list/",
        f"/plates/{plate.pk}/miqe/",
        f"/plates/{curves.pk}/qc/",
        f"/plates/{curves.pk}/",
        "/assays/efficiency/",
        f"/assays/{mir122.pk}/efficiency/",
        "/no/such/page/",
    ]


def test_every_bench_page_fits_1024_px(page, shot):
    UserFactory(username="cur-width", groups=["curator"])
    urls = bench_urls()
    page.set_viewport_size({"width": 1024, "height": 800})
    log_in(page, "cur-width")
    too_wide = []
    for url in urls:
        response = page.goto(url)
        assert response.status < 500, url
        width = page.evaluate("document.documentElement.scrollWidth")
        shot(url.strip("/").replace("/", "-").replace("?", "-") or "home")
        if width > 1024:
            too_wide.append((url, width))
    assert not too_wide
