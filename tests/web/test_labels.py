"""Printable label pages: a sheet of tube labels and a barcode image."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.urls import reverse

from ..factories import AliquotFactory


def test_label_sheet_prints_a_barcode_per_tube_in_use(tech_client, draw):
    AliquotFactory(draw=draw, barcode="P-001-PRE-01")
    AliquotFactory(
        draw=draw, barcode="P-001-PRE-02", status="discarded", box=None, row=None, column=None
    )
    page = tech_client.get(reverse("web:draw_labels", args=[draw.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'aria-label="Code 128 barcode P-001-PRE-01"' in html
    assert "P-001-PRE-02" not in html
    stylesheet = Path(settings.BASE_DIR, "biobank/static/exotrack/site.css").read_text()
    assert "@media print" in stylesheet


def test_barcode_image_is_svg_and_refuses_what_it_cannot_encode(tech_client):
    url = reverse("web:barcode_image")
    image = tech_client.get(url, {"value": "PL-1"})
    assert image.status_code == 200 and image["Content-Type"] == "image/svg+xml"
    assert tech_client.get(url, {"value": ""}).status_code == 400
