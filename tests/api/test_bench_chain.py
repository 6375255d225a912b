"""RNA isolation and reverse transcription through the API: the same services as the
bench pages, tubes named by barcode, all or nothing, refusals naming the sample."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from biobank.models import ReverseTranscription, RnaIsolation

from ..factories import (
    AliquotFactory,
    ExosomeIsolationBatchFactory,
    ExosomeIsolationFactory,
    study_assays,
)

pytestmark = pytest.mark.django_db

RNA_URL = "/api/v1/extraction-batches/isolate-rna/"
RT_URL = "/api/v1/reverse-transcriptions/"


@pytest.fixture
def tubes():
    batch = ExosomeIsolationBatchFactory(code="EXO-API", performed_on=dt.date(2014, 1, 1))
    for barcode in ("API-1", "API-2"):
        ExosomeIsolationFactory(batch=batch, aliquot=AliquotFactory(barcode=barcode))
    return ["API-1", "API-2"]


def rna_body(tubes, **extra):
    return {
        "samples": [{"aliquot": code} for code in tubes],
        "performed_on": "2014-01-02",
        "kit_lot": "MV-1",
        **extra,
    }


def test_the_routes_are_the_ones_the_router_names():
    assert reverse("api:extraction-batch-isolate-rna") == RNA_URL
    assert reverse("api:reverse-transcription-list") == RT_URL


def test_rna_then_rt_with_generated_codes(clients, tubes, technician):
    study_assays()
    body = rna_body(tubes)
    body["samples"][1]["deviation"] = "frothed"
    response = clients["technician"].post(RNA_URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert [(r["barcode"], r["batch"], r["deviation"]) for r in response.json()] == [
        ("API-1", "EXO-API", ""),
        ("API-2", "EXO-API", "frothed"),
    ]
    assert set(RnaIsolation.objects.values_list("operator__username", flat=True)) == {"tech"}

    response = clients["technician"].post(
        RT_URL,
        {"samples": [{"aliquot": "API-2"}], "performed_on": "2014-01-02", "kit_lot": "RT-1"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    (product,) = response.json()
    assert product["code"] == "API-2-RT1" and len(product["assays"]) == 3


def test_one_sample_refused_refuses_all_naming_it(clients, tubes):
    clients["technician"].post(RNA_URL, rna_body(tubes[1:]), format="json")
    response = clients["technician"].post(RNA_URL, rna_body(tubes), format="json")
    assert response.status_code == 400
    assert response.json()["samples"] == [
        "API-2: its RNA was already isolated (batch EXO-API, 2014-01-02)"
    ]
    assert RnaIsolation.objects.count() == 1


def test_a_tube_without_rna_cannot_be_reverse_transcribed(clients, tubes):
    response = clients["technician"].post(
        RT_URL,
        {"samples": [{"aliquot": "API-1"}], "performed_on": "2014-01-02", "kit_lot": "RT-1"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["samples"] == ["API-1 has no RNA isolated yet"]
    assert not ReverseTranscription.objects.exists()


def test_unknown_and_repeated_tubes_are_refused(clients, tubes):
    unknown = clients["technician"].post(RNA_URL, rna_body(["NOPE"]), format="json")
    assert unknown.json()["samples"] == ["No aliquot has the barcode NOPE"]
    twice = clients["technician"].post(RNA_URL, rna_body(["API-1", "API-1"]), format="json")
    assert twice.json()["samples"] == ["A tube is listed twice"]
    assert not RnaIsolation.objects.exists()


def test_an_analyst_may_not(clients, tubes):
    assert clients["analyst"].post(RNA_URL, rna_body(tubes), format="json").status_code == 403
    assert not RnaIsolation.objects.exists()
