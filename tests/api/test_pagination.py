"""Pagination: page numbers read keys first and give exactly the slices of the ordered
query; the large collections use cursors, which walk every row exactly once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from biobank.models import Aliquot, ExosomeIsolationBatch, Patient, Well

from .base import populate

pytestmark = pytest.mark.django_db


def walk(client, url, params):
    """Every row of a cursor-paginated list, following `next`."""
    seen, response = [], client.get(url, params)
    while True:
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert "count" not in body
        seen += [row["id"] for row in body["results"]]
        if not body["next"]:
            return seen
        response = client.get(body["next"])


@pytest.mark.parametrize(
    ("ordering", "order_by"),
    [(None, ("plate_id", "row", "column")), ("-id", ("-id",)), ("-plate_id", ("-plate_id", "-id"))],
)
def test_a_cursor_walk_sees_every_well_once_in_order(clients, curator, ordering, order_by):
    populate(curator, 2)
    params = {"page_size": 7, **({"ordering": ordering} if ordering else {})}
    seen = walk(clients["technician"], reverse("api:well-list"), params)
    assert len(seen) == len(set(seen)) == Well.objects.count()
    assert seen == list(Well.objects.order_by(*order_by).values_list("id", flat=True))


def test_a_row_added_during_a_walk_does_not_shift_the_pages(clients, curator):
    populate(curator, 2)
    api = clients["technician"]
    first = api.get(reverse("api:aliquot-list"), {"page_size": 4}).json()
    Aliquot.objects.filter(pk=first["results"][0]["id"]).update(barcode="0-FIRST")  # sorts first
    rest = walk(api, first["next"], {})
    ids = [row["id"] for row in first["results"]] + rest
    assert len(ids) == len(set(ids)) == Aliquot.objects.count()


def test_page_numbers_are_the_slices_of_the_ordered_query(clients, curator):
    populate(curator, 3)
    api = clients["technician"]
    seen = []
    for page in (1, 2):
        body = api.get(
            reverse("api:patient-list"), {"page_size": 2, "page": page, "ordering": "-study_id"}
        ).json()
        assert body["count"] == Patient.objects.count()
        seen += [row["study_id"] for row in body["results"]]
    assert (
        seen == list(Patient.objects.order_by("-study_id").values_list("study_id", flat=True))[:4]
    )


def test_ties_in_a_page_numbered_ordering_are_broken_by_the_key(clients, curator):
    populate(curator, 3)
    api = clients["technician"]
    seen = []
    for page in (1, 2, 3):  # three patients of the same age
        body = api.get(
            reverse("api:patient-list"),
            {"page_size": 1, "page": page, "ordering": "age_at_enrolment"},
        ).json()
        seen += [row["id"] for row in body["results"]]
    assert seen == list(
        Patient.objects.order_by("age_at_enrolment", "pk").values_list("id", flat=True)
    )


def test_a_distinct_filter_pages_too(clients, curator):
    populate(curator, 2)
    response = clients["technician"].get(
        reverse("api:extraction-batch-list"), {"patient": "QC-001", "page_size": 1}
    )
    assert response.status_code == 200 and response.json()["count"] == 1
    assert response.json()["results"][0]["id"] == (
        ExosomeIsolationBatch.objects.get(code="EXO-QC-001").pk
    )


def test_bad_pages_and_cursors_are_json_404s(clients, world):
    api = clients["technician"]
    for url, params in (
        (reverse("api:patient-list"), {"page": 999}),
        (reverse("api:well-list"), {"cursor": "not-a-cursor"}),
    ):
        response = api.get(url, params)
        assert response.status_code == 404 and "detail" in response.json()
