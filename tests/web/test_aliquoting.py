"""Aliquoting a draw into a box shown as a grid of its real occupancy."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank.models import Aliquot, StorageEvent

from ..factories import AliquotFactory, BoxFactory, SerumDrawFactory
from .conftest import field_errors

pytestmark = pytest.mark.django_db


def url(draw, **query):
    base = reverse("web:draw_aliquot", args=[draw.pk])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def post(client, draw, **data):
    return client.post(url(draw), {"box": "BOX-1", "volume_ul": "250", **data})


def test_the_grid_shows_taken_positions_disabled_and_free_ones_clickable(tech_client, draw, box):
    AliquotFactory(barcode="OTHER-1", box=box, row=1, column=2)
    html = tech_client.get(url(draw)).content.decode()
    taken = re.search(
        r'<button type="button" class="cell taken[^"]*" disabled data-position="A2"[^>]*>', html
    )
    assert taken and "OTHER-1" in html
    assert re.search(r'<button type="button" class="cell free" data-position="A1"', html)
    assert html.count('class="cell free"') == 3 * 4 - 1
    assert 'data-grid-for="id_positions"' in html
    assert re.search(r'name="count"[^>]*autofocus', html)


def test_clicked_positions_are_filled_and_logged(tech_client, draw, box, technician):
    response = post(tech_client, draw, count="2", positions="B1 b02")
    assert response.status_code == 302
    assert response["Location"] == reverse("web:draw_labels", args=[draw.pk])
    aliquots = list(Aliquot.objects.order_by("barcode"))
    assert [(a.barcode, a.position, a.volume_ul) for a in aliquots] == [
        ("P-001-PRE-01", "B1", 250),
        ("P-001-PRE-02", "B2", 250),
    ]
    assert StorageEvent.objects.filter(kind="check_in", user=technician).count() == 2


def test_without_positions_the_next_free_ones_are_used(tech_client, draw, box):
    AliquotFactory(box=box, row=1, column=1)
    post(tech_client, draw, count="3", positions="")
    assert sorted(a.position for a in Aliquot.objects.filter(draw=draw)) == ["A2", "A3", "A4"]


def test_scanned_barcodes_are_kept_in_position_order(tech_client, draw, box):
    post(tech_client, draw, count="2", positions="C3 C4", barcodes="TUBE-9\r\nTUBE-8\r\n")
    assert {a.barcode: a.position for a in Aliquot.objects.all()} == {
        "TUBE-9": "C3",
        "TUBE-8": "C4",
    }


def test_the_grid_can_show_another_scanned_box(tech_client, draw, box):
    BoxFactory(barcode="BOX-2", rows=2, columns=2)
    html = tech_client.get(url(draw, box="BOX-2")).content.decode()
    assert 'data-box="BOX-2"' in html and html.count('class="cell free"') == 4
    assert "No box has the barcode" in tech_client.get(url(draw, box="NOPE")).content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"count": "1", "positions": "A1"}, "positions", "already holds aliquot OTHER-1"),
        ({"count": "1", "positions": "D1"}, "positions", "outside box BOX-1 (3 x 4)"),
        ({"count": "2", "positions": "A2"}, "positions", "1 positions are chosen for 2 aliquots"),
        ({"count": "2", "positions": "A2 A2"}, "positions", "The same position is chosen twice"),
        ({"count": "1", "positions": "top left"}, "positions", "not a position like A1"),
        (
            {"count": "5", "positions": "", "volume_ul": "250"},
            "volume_ul",
            "more than the 1000.0 µl",
        ),
        ({"count": "1", "positions": "A2", "volume_ul": "0"}, "volume_ul", "more than 0 µl"),
        ({"count": "2", "positions": "A2 A3", "barcodes": "ONE"}, "barcodes", "Give 2 barcodes"),
        (
            {"count": "1", "positions": "A2", "barcodes": "OTHER-1"},
            "barcodes",
            "already in use: OTHER-1",
        ),
        ({"count": "0", "positions": ""}, "count", "greater than or equal to 1"),
        ({"count": "1", "box": "NOPE"}, "box", "No box has the barcode 'NOPE'"),
    ],
    ids=[
        "taken",
        "outside",
        "count-mismatch",
        "twice",
        "unreadable",
        "too-much-serum",
        "zero-volume",
        "barcode-count",
        "barcode-taken",
        "no-aliquots",
        "unknown-box",
    ],
)
def test_refusals_show_in_place_and_nothing_is_saved(tech_client, draw, box, data, field, message):
    AliquotFactory(barcode="OTHER-1", box=box, row=1, column=1)
    response = post(tech_client, draw, **data)
    assert response.status_code == 200
    errors = field_errors(response, field)
    assert any(message in error for error in errors), errors
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert not Aliquot.objects.filter(draw=draw).exists()


def test_a_full_box_says_so(tech_client, draw):
    small = BoxFactory(barcode="BOX-S", rows=1, columns=1)
    AliquotFactory(box=small, row=1, column=1)
    response = tech_client.post(url(draw), {"box": "BOX-S", "volume_ul": "100", "count": "1"})
    assert "has 0 free positions, not 1" in field_errors(response, "positions")[0]


def test_the_grid_reads_occupancy_in_constant_queries(tech_client, draw, box):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert tech_client.get(url(draw)).status_code == 200
        return len(captured)

    AliquotFactory(box=box, row=1, column=1, draw=draw)
    one = queries()
    for column in range(2, 5):
        for row in (1, 2):
            AliquotFactory(box=box, row=row, column=column, draw=draw)
    assert queries() == one


def test_who_may_aliquot(client, analyst_client, draw, box):
    assert client.get(url(draw)).status_code == 302
    assert analyst_client.get(url(draw)).status_code == 403


def test_an_unknown_draw_is_404(tech_client):
    assert tech_client.get(reverse("web:draw_aliquot", args=[999])).status_code == 404


def test_draws_can_be_aliquoted_twice_until_the_serum_runs_out(tech_client, box):
    draw = SerumDrawFactory(serum_volume_ul=500)
    post(tech_client, draw, count="1", positions="A1")
    response = post(tech_client, draw, count="2", positions="A2 A3")
    assert "more than the 250.0 µl of serum left" in field_errors(response, "volume_ul")[0]
    assert Aliquot.objects.filter(draw=draw).count() == 1
