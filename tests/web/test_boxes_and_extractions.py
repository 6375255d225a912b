"""Box pages and recording an exosome isolation batch."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from biobank.models import Aliquot, ExosomeIsolationBatch
from biobank.services.aliquots import aliquot_discard

from ..factories import AliquotFactory, BoxFactory, ExosomeIsolationBatchFactory
from .conftest import field_errors, text

pytestmark = pytest.mark.django_db


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


class TestBoxes:
    def test_the_list_counts_stored_and_free_in_constant_queries(self, tech_client, box):
        AliquotFactory(box=box, row=1, column=1)
        one = count_queries(tech_client, reverse("web:box_list"))
        for column in (1, 2, 3, 4):
            AliquotFactory(box=box, row=2, column=column)
            AliquotFactory(box=BoxFactory(), row=1, column=1)
        assert count_queries(tech_client, reverse("web:box_list")) == one
        page = text(tech_client.get(reverse("web:box_list")))
        assert "BOX-1 Box 1" in page and " 3 x 4 5 7 " in page  # 5 stored, 7 free

    def test_the_box_page_links_each_tube(self, tech_client, box):
        aliquot = AliquotFactory(barcode="IN-BOX", box=box, row=3, column=4)
        html = tech_client.get(reverse("web:box_detail", args=[box.pk])).content.decode()
        assert reverse("web:sample_detail", args=[aliquot.pk]) in html and "IN-BOX" in html
        assert "<button" not in html.split('class="box-grid"')[1]  # nothing to pick here

    def test_the_box_page_is_constant_in_queries(self, tech_client, box):
        url = reverse("web:box_detail", args=[box.pk])
        AliquotFactory(box=box, row=1, column=1)
        one = count_queries(tech_client, url)
        for column in (2, 3, 4):
            AliquotFactory(box=box, row=1, column=column)
        assert count_queries(tech_client, url) == one


@pytest.fixture
def tubes(draw, box):
    return [
        AliquotFactory(barcode=f"TUBE-{n}", draw=draw, box=box, row=1, column=n) for n in (1, 2, 3)
    ]


def batch_data(**overrides):
    data = {
        "code": "EXO-001",
        "performed_on": "2014-02-01",
        "exoquick_lot": "EQ-7",
        "spike_in_lot": "C39-2",
        "serum_volume_ul": "250",
        "aliquots": "TUBE-1\r\nTUBE-2\r\n",
    }
    return {**data, **overrides}


class TestIsolationBatch:
    URL = reverse("web:isolation_batch_record")

    def test_the_form_focuses_the_batch_code_and_defaults_the_protocol(self, tech_client):
        html = tech_client.get(self.URL).content.decode()
        assert 'name="code" autofocus' in html.replace('type="text" ', "")
        assert 'name="serum_volume_ul" value="250"' in html.replace('type="number" ', "")

    def test_a_batch_takes_serum_from_every_scanned_tube(self, tech_client, tubes, technician):
        response = tech_client.post(self.URL, batch_data(aliquots="TUBE-1\nTUBE-2 TUBE-3"))
        batch = ExosomeIsolationBatch.objects.get()
        assert response["Location"] == reverse("web:isolation_batch_detail", args=[batch.pk])
        assert batch.operator == technician and batch.exoquick_lot == "EQ-7"
        assert set(Aliquot.objects.values_list("status", flat=True)) == {"used_up"}
        page = text(tech_client.get(response["Location"]))
        assert "TUBE-3" in page and "Used up" in page

    def test_one_tube_short_refuses_the_whole_batch(self, tech_client, tubes):
        Aliquot.objects.filter(barcode="TUBE-2").update(volume_ul=Decimal("100"))
        response = tech_client.post(self.URL, batch_data())
        assert (
            "TUBE-2 holds 100.0 µl; 250 µl cannot be taken"
            in field_errors(response, "serum_volume_ul")[0]
        )
        assert not ExosomeIsolationBatch.objects.exists()
        assert Aliquot.objects.get(barcode="TUBE-1").volume_ul == 250

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"aliquots": "TUBE-1\nNOPE"}, "aliquots", "No aliquot has the barcode NOPE"),
            ({"aliquots": "TUBE-1\nTUBE-1"}, "aliquots", "scanned twice"),
            ({"aliquots": ""}, "aliquots", "required"),
            ({"serum_volume_ul": "0"}, "serum_volume_ul", "more than 0 µl"),
            ({"code": "EXO-OLD"}, "code", "already exists"),
            ({"exoquick_lot": ""}, "exoquick_lot", "required"),
            ({"performed_on": "01/02"}, "performed_on", "valid date"),
        ],
        ids=["unknown", "twice", "none", "zero", "duplicate-code", "no-lot", "bad-date"],
    )
    def test_refusals_in_place(self, tech_client, tubes, overrides, field, message):
        ExosomeIsolationBatchFactory(code="EXO-OLD")
        response = tech_client.post(self.URL, batch_data(**overrides))
        assert any(message in error for error in field_errors(response, field)), response.context[
            "form"
        ].errors
        assert ExosomeIsolationBatch.objects.count() == 1
        assert Aliquot.objects.filter(volume_ul=250).count() == 3

    def test_a_discarded_tube_is_refused_on_the_tubes(self, tech_client, tubes, technician):
        aliquot_discard(aliquot=tubes[0], user=technician, reason="cracked")
        response = tech_client.post(self.URL, batch_data())
        assert "is discarded; it cannot be used" in field_errors(response, "aliquots")[0]

    def test_analysts_may_not_record(self, analyst_client, tubes):
        assert analyst_client.post(self.URL, batch_data()).status_code == 403


def test_the_date_defaults_to_today_in_the_format_a_date_input_reads(tech_client):
    html = tech_client.get(reverse("web:isolation_batch_record")).content.decode()
    today = timezone.localdate().isoformat()
    assert f'type="date" name="performed_on" value="{today}"' in html
