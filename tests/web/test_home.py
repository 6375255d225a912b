"""The home page: today's work for the bench, in a constant number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank.services.aliquots import aliquot_check_out
from biobank.services.plates import plate_create, plate_layout

from ..factories import AliquotFactory, ReverseTranscriptionFactory, SerumDrawFactory
from .conftest import text

pytestmark = pytest.mark.django_db

HOME = reverse("home")


def section(page: str, title: str) -> str:
    return page.split(title)[1].split("</section>")[0] if title in page else ""


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get(HOME)["Location"] == f"{reverse('login')}?next=/"


def test_the_worklist_lists_what_waits(tech_client, technician, imported_plate, assays):
    waiting = SerumDrawFactory(patient__study_id="P-WAIT", treatment__patient__study_id="P-WAIT")
    aliquot = AliquotFactory(barcode="OUT-1")
    aliquot_check_out(aliquot=aliquot, user=technician, reason="to the qPCR room")
    pending = plate_create(barcode="PL-PENDING")
    plate_layout(plate=pending, samples=[ReverseTranscriptionFactory()], assays=assays)

    html = tech_client.get(HOME).content.decode()
    draws = section(html, "Draws waiting to be aliquoted")
    assert "P-WAIT" in draws and reverse("web:draw_aliquot", args=[waiting.pk]) in draws
    out = section(html, "Aliquots checked out")
    assert "OUT-1" in out and "to the qPCR room" in out and "tech" in out
    plates = section(html, "Plates waiting for their export")
    assert "PL-PENDING" in plates and "PL-W1" not in plates
    problems = section(html, "QC problems")
    assert "PL-W1" in problems and "3 replicate groups flagged" in problems
    assert "NTC amplified" in problems


def test_an_aliquoted_draw_leaves_the_worklist(tech_client, draw):
    AliquotFactory(draw=draw)
    assert "None." in section(
        tech_client.get(HOME).content.decode(), "Draws waiting to be aliquoted"
    )


def test_analysts_see_the_counts_but_no_bench_work(analyst_client, draw):
    page = text(analyst_client.get(HOME))
    assert "1 serum draws" in page and "Today's work" not in page


def test_the_home_page_is_constant_in_queries(tech_client, technician, assays):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert tech_client.get(HOME).status_code == 200
        return len(captured)

    def add_work(n: int) -> None:
        SerumDrawFactory()
        aliquot_check_out(aliquot=AliquotFactory(), user=technician, reason=f"r{n}")
        plate = plate_create(barcode=f"PL-H{n}")
        plate_layout(plate=plate, samples=[ReverseTranscriptionFactory()], assays=assays)

    add_work(0)
    one = queries()
    for n in range(1, 6):
        add_work(n)
    assert queries() == one


def test_the_nav_offers_the_bench_pages_by_permission(tech_client, analyst_client):
    tech_nav = tech_client.get(HOME).content.decode().split("</nav>")[0]
    for name in (
        "draw_register",
        "sample_find",
        "box_list",
        "isolation_batch_record",
        "plate_list",
    ):
        assert reverse(f"web:{name}") in tech_nav
    analyst_nav = analyst_client.get(HOME).content.decode().split("</nav>")[0]
    assert reverse("web:draw_register") not in analyst_nav
