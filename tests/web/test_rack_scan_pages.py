"""The rack-scan pages: upload on the box page or anywhere, preview, confirm, cancel."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from biobank.models import Aliquot, RackScanImport

from ..factories import AliquotFactory, BoxFactory
from ..test_rack_scan import FIXTURE, code, fill

pytestmark = pytest.mark.django_db


@pytest.fixture
def racked():
    box = BoxFactory(barcode="RK00000101", rows=8, columns=12)
    fill(box, range(1, 95))
    AliquotFactory(barcode=code(95), box=BoxFactory(barcode="OLD-BOX"), row=3, column=4)
    return box


def upload(client, url, name=FIXTURE.name, data=None):
    data = FIXTURE.read_bytes() if data is None else data
    return client.post(url, {"file": SimpleUploadedFile(name, data)})


def test_upload_preview_confirm_from_the_box_page(tech_client, racked):
    box_page = tech_client.get(reverse("web:box_detail", args=[racked.pk])).content.decode()
    assert reverse("web:rack_scan_upload", args=[racked.pk]) in box_page
    response = upload(tech_client, reverse("web:rack_scan_upload", args=[racked.pk]))
    preview_url = reverse("web:rack_scan_preview", args=[racked.pk])
    assert response.status_code == 302 and response.url == preview_url
    html = tech_client.get(preview_url).content.decode()
    assert "1 moved" in html and "2 unread" in html
    assert "FX10000095 moved here from OLD-BOX C4" in html
    assert "FX10000084 is recorded here and stays" in html
    assert Aliquot.objects.get(barcode=code(95)).box.barcode == "OLD-BOX"
    response = tech_client.post(preview_url, {"reason": "monthly audit"})
    assert response.status_code == 302 and response.url == reverse(
        "web:box_detail", args=[racked.pk]
    )
    assert Aliquot.objects.get(barcode=code(95)).box == racked
    assert RackScanImport.objects.get().reason == "monthly audit"


def test_the_rack_is_found_by_the_file_name(tech_client, racked):
    response = upload(tech_client, reverse("web:rack_scan_find"))
    assert response.url == reverse("web:rack_scan_preview", args=[racked.pk])
    unknown = upload(tech_client, reverse("web:rack_scan_find"), name="RK404.csv")
    assert "No rack or box has the barcode RK404 (from its file name)" in unknown.content.decode()


def test_a_scan_of_another_rack_is_refused_on_upload(tech_client, racked):
    other = BoxFactory(barcode="RK2", rows=8, columns=12)
    response = upload(tech_client, reverse("web:rack_scan_upload", args=[other.pk]))
    assert "is a scan of rack RK00000101 (from its file name), not of RK2" in (
        response.content.decode()
    )


def test_cancel_forgets_the_upload(tech_client, racked):
    upload(tech_client, reverse("web:rack_scan_upload", args=[racked.pk]))
    tech_client.post(reverse("web:rack_scan_cancel", args=[racked.pk]))
    response = tech_client.get(reverse("web:rack_scan_preview", args=[racked.pk]))
    assert response.url == reverse("web:rack_scan_upload", args=[racked.pk])
    assert not RackScanImport.objects.exists()


def test_an_analyst_may_not_import(client, analyst, racked):
    client.force_login(analyst)
    assert client.get(reverse("web:rack_scan_upload", args=[racked.pk])).status_code == 403
