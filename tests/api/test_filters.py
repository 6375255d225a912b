"""Filtering and ordering on the fields a user filters on (biobank/filtersets.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from biobank.filtersets import AliquotFilterSet, WellFilterSet
from biobank.models import Aliquot, Well
from biobank.services.aliquots import aliquot_check_out

from .helpers import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(curator):
    first = build_world(curator, study_id="F-0001")
    second = build_world(
        curator,
        study_id="F-0002",
        identity={
            "full_name": "Second Person",
            "hospital_number": "H-F-2",
            "date_of_birth": "1940-01-01",
        },
    )
    return first, second


def listed(client, name, **params):
    response = client.get(reverse(f"api:{name}-list"), params)
    assert response.status_code == 200, response.content[:300]
    return response.json()["results"]


def test_aliquots_by_patient_timepoint_status_and_box(clients, two, curator):
    first, second = two
    api = clients["technician"]
    assert {a["study_id"] for a in listed(api, "aliquot", patient="F-0002")} == {"F-0002"}
    assert len(listed(api, "aliquot", patient="F-0001", timepoint="PRE")) == 3
    assert listed(api, "aliquot", patient="F-0001", timepoint="POST") == []
    aliquot_check_out(aliquot=first["aliquot"], user=curator, reason="bench")
    out = listed(api, "aliquot", status="out")
    assert [a["barcode"] for a in out] == [first["aliquot"].barcode]
    in_box = listed(api, "aliquot", box=second["box"].pk)
    assert {a["barcode"] for a in in_box} == set(
        Aliquot.objects.filter(box=second["box"]).values_list("barcode", flat=True)
    )
    assert listed(api, "aliquot", box_barcode=second["box"].barcode) == in_box


def test_wells_by_plate_assay_patient_and_timepoint(clients, two):
    first, second = two
    api = clients["technician"]
    on_plate = listed(api, "well", plate=first["plate"].pk, page_size=500)
    assert len(on_plate) == first["plate"].wells.count()
    assay = first["_assays"][1]
    by_assay = listed(api, "well", plate=first["plate"].pk, assay=assay.pk)
    assert {w["target"] for w in by_assay} == {assay.target}
    mine = listed(api, "well", patient="F-0002", page_size=500)
    assert {w["study_id"] for w in mine} == {"F-0002"} and len(mine) == 9
    assert listed(api, "well", patient="F-0002", timepoint="POST") == []
    assert len(listed(api, "well", target=assay.target, page_size=500)) == 2 * 4


def test_dates_are_inclusive_ranges(clients, two):
    api = clients["technician"]
    assert len(listed(api, "draw", drawn_after="2014-01-10", drawn_before="2014-01-10")) == 2
    assert listed(api, "draw", drawn_after="2014-01-11") == []
    assert len(listed(api, "follow-up", contact_date_before="2014-06-01")) == 2
    assert len(listed(api, "treatment", performed_on_after="2014-01-01")) == 2


def test_a_bad_filter_value_is_a_400_naming_it(clients, two):
    api = clients["technician"]
    response = api.get(reverse("api:aliquot-list"), {"status": "lost-in-space"})
    assert response.status_code == 400 and "status" in response.json()
    response = api.get(reverse("api:draw-list"), {"drawn_after": "not-a-date"})
    assert response.status_code == 400 and "drawn" in str(response.json())


def test_ordering(clients, two):
    api = clients["technician"]
    ids = [p["study_id"] for p in listed(api, "patient", ordering="-study_id")]
    assert ids == ["F-0002", "F-0001"]


def test_boxes_with_space(clients, two):
    api = clients["technician"]
    boxes = listed(api, "box", has_space=True)
    assert len(boxes) == 2 and all(b["free"] == 81 - b["n_stored"] for b in boxes)
    assert listed(api, "box", has_space=False) == []


def test_no_filter_reaches_identities(clients, two):
    """A filter on a name would let anyone who may list patients test guesses."""
    api = clients["technician"]
    everyone = listed(api, "patient")
    for field in ("full_name", "identity__full_name", "hospital_number", "date_of_birth"):
        assert listed(api, "patient", **{field: "Second Person"}) == everyone


def test_filtersets_work_without_drf_for_the_web_pages(two):
    """Plain django-filter FilterSets: a page can bind GET data and read `.qs`."""
    filtered = AliquotFilterSet({"patient": "F-0002", "status": "stored"}, Aliquot.objects.all())
    assert filtered.is_valid() and {a.draw.patient.study_id for a in filtered.qs} == {"F-0002"}
    wells = WellFilterSet({"undetermined": "true"}, Well.objects.all())
    assert wells.is_valid() and wells.qs.count() == Well.objects.filter(cq__isnull=True).count()
