"""The aliquot and well lists render `.values()` rows (biobank.api.serializers.ValueRows),
not model instances through their serializers; the answer must be the serializer's,
field for field: stored and checked-out tubes, empty and excluded wells, read through
the filters, orderings and cursor pages the clients use."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from biobank.api import serializers as s
from biobank.models import Well
from biobank.selectors.plates import wells_listed as wells
from biobank.selectors.samples import aliquots_with_place as aliquots
from biobank.services.aliquots import aliquot_check_out, aliquot_thaw
from biobank.services.plates import well_exclude

from .helpers import build_world, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def worlds(technician):
    first, second = (
        build_world(
            technician,
            study_id=f"ROW-00{n}",
            identity={
                "full_name": f"Row {n}",
                "hospital_number": f"ROW-H{n}",
                "date_of_birth": "1950-01-01",
            },
        )
        for n in (1, 2)
    )
    aliquot_check_out(aliquot=first["_aliquots"][1], user=technician, reason="to the bench")
    aliquot_thaw(aliquot=second["_aliquots"][0], user=technician, reason="assay")
    well_exclude(well=first["_wells"][0], user=technician, reason="bubble")
    Well.objects.filter(pk=first["_wells"][1].pk).update(cq=27.123456789)
    return first, second


def listed(client, url: str, **params) -> list[dict]:
    results, page = [], client.get(url, {"page_size": 2, **params})
    while True:
        assert page.status_code == 200, page.content[:300]
        body = page.json()
        results += body["results"]
        if not body["next"]:
            return results
        page = client.get(body["next"])


def test_the_aliquot_list_is_the_serializers_rendering(worlds, technician):
    client = client_for(technician)
    shown = listed(client, reverse("api:aliquot-list"))
    expected = s.AliquotSerializer(aliquots().order_by("barcode", "pk"), many=True).data
    assert shown == [dict(row) for row in expected]
    assert any(row["location"] is None for row in shown)  # the checked-out tube
    assert any(row["freeze_thaw_count"] == 1 for row in shown)


def test_the_well_list_is_the_serializers_rendering(worlds, technician):
    client = client_for(technician)
    shown = listed(client, reverse("api:well-list"))
    expected = s.WellSerializer(wells().order_by("plate_id", "row", "column", "pk"), many=True)
    assert shown == [dict(row) for row in expected.data]
    excluded = [row for row in shown if row["excluded"]]
    assert [row["excluded_by"] for row in excluded] == ["tech"]
    assert any(row["cq"] == 27.123456789 for row in shown)


def test_filters_and_orderings_read_the_same_rows(worlds, technician):
    client = client_for(technician)
    url = reverse("api:aliquot-list")
    mine = listed(client, url, patient="ROW-002")
    assert {row["study_id"] for row in mine} == {"ROW-002"} and len(mine) == 3
    newest_first = listed(client, url, ordering="-created_at")
    assert len(newest_first) == 6
    assert [row["created_at"] for row in newest_first] == sorted(
        (row["created_at"] for row in newest_first), reverse=True
    )
    today = timezone.localdate()
    assert listed(client, url, created_after=str(today + dt.timedelta(days=1))) == []
    bad = client.get(url, {"created_after": "not a date"})
    assert bad.status_code == 400 and "created" in str(bad.json())
    wells_url = reverse("api:well-list")
    assert {row["plate_barcode"] for row in listed(client, wells_url, patient="ROW-001")} == {
        "QP-ROW-001"
    }
    assert client.get(wells_url, {"replicate": "x"}).status_code == 400
