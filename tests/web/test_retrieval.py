"""The retrieval pages: ask, decide (curators only), the printable pick list and its
PDF, check-out and return by scan, and legal holds on the tube's page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank.models import Aliquot, LegalHold, PositionReservation, RetrievalRequest
from biobank.services.retrieval import pick_list_check_out, request_approve, request_create

from ..factories import AliquotFactory, BoxFactory

pytestmark = pytest.mark.django_db


def ask(client, tubes, **extra):
    data = {"purpose": "validation", "barcodes": "\n".join(t.barcode for t in tubes), "submit": "1"}
    return client.post(reverse("web:request_new"), {**data, **extra})


def test_technician_asks_and_curator_approves(tech_client, curator_client):
    box = BoxFactory()
    good = AliquotFactory(box=box, row=1, column=1)
    low = AliquotFactory(box=box, row=1, column=2, volume_ul=Decimal("5"))
    response = ask(tech_client, [good, low], min_volume_ul="50")
    request = RetrievalRequest.objects.get()
    assert response.url == reverse("web:request_detail", args=[request.pk])
    page = tech_client.get(response.url).content.decode()
    assert "not enough volume" in page and "Approve" not in page  # technicians do not decide
    assert tech_client.post(reverse("web:request_approve", args=[request.pk])).status_code == 302
    request.refresh_from_db()
    assert request.status == "submitted"
    page = curator_client.get(response.url).content.decode()
    assert "Approve the 1 eligible tube" in page
    curator_client.post(reverse("web:request_approve", args=[request.pk]), {"note": "ok"})
    request.refresh_from_db()
    assert request.status == "approved"
    listing = tech_client.get(reverse("web:request_list")).content.decode()
    assert request.code in listing


def test_a_bad_request_shows_the_field_and_saves_nothing(tech_client):
    response = tech_client.post(
        reverse("web:request_new"), {"purpose": "x", "barcodes": "AL-NOWHERE", "submit": "1"}
    )
    assert response.status_code == 200
    assert "No tube has barcode AL-NOWHERE" in response.content.decode()
    assert not RetrievalRequest.objects.exists()


def test_analyst_may_not_ask(analyst_client):
    assert analyst_client.get(reverse("web:request_new")).status_code == 403


def test_pick_list_check_out_and_return(tech_client, curator_client):
    box = BoxFactory(rows=2, columns=2)
    tubes = [AliquotFactory(box=box, row=1, column=c) for c in (1, 2)]
    ask(tech_client, tubes)
    request = RetrievalRequest.objects.get()
    curator_client.post(reverse("web:request_approve", args=[request.pk]))
    url = reverse("web:request_pick_list", args=[request.pk])
    page = tech_client.get(url).content.decode()
    assert page.index(tubes[0].barcode) < page.index(tubes[1].barcode)
    pdf = tech_client.get(reverse("web:request_pick_list_pdf", args=[request.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    response = tech_client.post(url, {"out-codes": f"{tubes[0].barcode}\n{tubes[1].barcode}"})
    assert response.status_code == 302
    assert PositionReservation.objects.count() == 2
    assert set(Aliquot.objects.values_list("status", flat=True)) == {"out"}
    page = tech_client.get(reverse("web:box_detail", args=[box.pk])).content.decode()
    assert "2 kept" in page
    refused = tech_client.post(url, {"back-codes": f"{tubes[0].barcode}\nAL-NOPE"})
    assert "not on request" in refused.content.decode()
    tech_client.post(url, {"back-codes": tubes[1].barcode})
    request.refresh_from_db()
    assert request.status == "fulfilled"
    assert not PositionReservation.objects.exists()


def test_curator_places_and_releases_a_hold(curator_client, tech_client):
    tube = AliquotFactory()
    detail = reverse("web:sample_detail", args=[tube.pk])
    assert (
        tech_client.post(
            reverse("web:legal_hold_new", args=[tube.pk]), {"scope": "tube", "reason": "x"}
        ).status_code
        == 403
    )
    curator_client.post(
        reverse("web:legal_hold_new", args=[tube.pk]), {"scope": "patient", "reason": "subpoena"}
    )
    hold = LegalHold.objects.get()
    assert hold.patient_id == tube.draw.patient_id
    assert "subpoena" in tech_client.get(detail).content.decode()
    curator_client.post(
        reverse("web:legal_hold_release", args=[hold.pk]), {"aliquot": str(tube.pk)}
    )
    hold.refresh_from_db()
    assert hold.released_at is not None
    assert "No hold on this tube" in curator_client.get(detail).content.decode()


def test_request_pages_read_a_constant_number_of_queries(tech_client, curator, technician):
    def counts(n):
        box = BoxFactory(rows=8, columns=12)
        tubes = [AliquotFactory(box=box, row=1 + i // 12, column=1 + i % 12) for i in range(n)]
        request = request_create(
            user=technician, purpose="p", barcodes=[t.barcode for t in tubes], submit=True
        )
        found = []
        with CaptureQueriesContext(connection) as submitted:
            tech_client.get(reverse("web:request_detail", args=[request.pk]))
        found.append(len(submitted))
        request_approve(request=request, user=curator)
        pick_list_check_out(request=request, codes=[tubes[0].barcode], user=technician)
        for name in ("web:request_detail", "web:request_pick_list"):
            with CaptureQueriesContext(connection) as queries:
                assert tech_client.get(reverse(name, args=[request.pk])).status_code == 200
            found.append(len(queries))
        return found

    assert counts(3) == counts(40)


def test_an_approved_tube_taken_out_another_way_is_named_on_the_pick_list(
    tech_client, curator, technician
):
    from biobank.services.aliquots import aliquot_check_out

    tubes = [AliquotFactory(row=1, column=1), AliquotFactory(row=1, column=1)]
    request = request_create(
        user=technician, purpose="p", barcodes=[t.barcode for t in tubes], submit=True
    )
    request_approve(request=request, user=curator)
    aliquot_check_out(aliquot=tubes[1], user=technician, reason="bench")
    page = tech_client.get(reverse("web:request_pick_list", args=[request.pk])).content.decode()
    assert "Approved but not in a box" in page and tubes[1].barcode in page
