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


def test_the_draws_labels_as_a_pdf_for_a_cryo_stock(tech_client, draw):
    AliquotFactory(draw=draw, barcode="P-001-PRE-01")
    url = reverse("web:draw_labels", args=[draw.pk])
    response = tech_client.get(url, {"format": "pdf", "stock": "cryo-32x13"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert 'filename="labels-' in response["Content-Disposition"]
    assert b"/MediaBox [ 0 0 92.12598 36" in response.content  # 32.5 x 12.7 mm, one a page


def test_the_draws_labels_as_zpl_one_format_per_tube(tech_client, draw):
    for n in (1, 2):
        AliquotFactory(draw=draw, barcode=f"P-001-PRE-0{n}")
    url = reverse("web:draw_labels", args=[draw.pk])
    body = tech_client.get(url, {"format": "zpl", "stock": "tube-51x25", "dpi": "300"}).content
    zpl = body.decode()
    assert zpl.count("^XA") == zpl.count("^XZ") == 2
    assert "^BCN" in zpl and "^FDP-001-PRE-01^FS" in zpl
    assert "^PW600" in zpl  # 50.8 mm at 300 dpi


def test_a_code_cannot_smuggle_zpl_commands():
    from biobank.labels.layouts import STOCKS, Label
    from biobank.labels.zpl import labels_zpl

    zpl = labels_zpl([Label("A^XZ~JR_1")], STOCKS["cryo-32x13"])
    assert "^FDA_5EXZ_7EJR_5F1^FS" in zpl
    assert zpl.count("^XZ") == 1


def test_bad_print_options_are_refused_naming_them(tech_client, draw):
    AliquotFactory(draw=draw)
    url = reverse("web:draw_labels", args=[draw.pk])
    stock = tech_client.get(url, {"format": "pdf", "stock": "napkin"})
    assert stock.status_code == 400 and b"label stock 'napkin'" in stock.content
    dpi = tech_client.get(url, {"format": "zpl", "dpi": "72"})
    assert dpi.status_code == 400 and b"dpi" in dpi.content
    assert tech_client.get(url, {"format": "docx"}).status_code == 400


def test_reprint_one_tubes_label_from_its_page(tech_client):
    tube = AliquotFactory(barcode="P-009-POST-02")
    page = tech_client.get(reverse("web:sample_detail", args=[tube.pk])).content.decode()
    assert reverse("web:tube_label", args=[tube.pk]) in page
    response = tech_client.get(reverse("web:tube_label", args=[tube.pk]))
    assert response.content.startswith(b"%PDF")
    zpl = tech_client.get(reverse("web:tube_label", args=[tube.pk]), {"format": "zpl"})
    assert "^FDP-009-POST-02^FS" in zpl.content.decode()


def test_rt_labels_as_zpl(tech_client):
    from ..factories import ReverseTranscriptionFactory

    product = ReverseTranscriptionFactory(code="RT-LBL-1")
    response = tech_client.get(reverse("web:rt_labels"), {"codes": "RT-LBL-1", "format": "zpl"})
    assert f"^FD{product.code}^FS" in response.content.decode()
