"""A patient's page: draws, tubes, extracts and results; identities only for curators;
a fixed number of queries whatever the patient holds (issue 15)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from biobank.models import PatientIdentity, QpcrPlate, Well

from ..factories import AliquotFactory, ReverseTranscriptionFactory, study_assays

pytestmark = pytest.mark.django_db


def measured(product, assay, cqs):
    plate = QpcrPlate.objects.create(barcode=f"PL-{product.code}-{assay.pk}")
    for replicate, cq in enumerate(cqs, start=1):
        Well.objects.create(
            plate=plate,
            row=replicate,
            column=assay.pk % 12 + 1,
            kind=Well.Kind.SAMPLE,
            sample=product,
            assay=assay,
            replicate=replicate,
            cq=cq,
        )
    return plate


@pytest.fixture
def product():
    return ReverseTranscriptionFactory(code="RT-PAT-1")


def test_the_page_shows_draws_tubes_extracts_and_results(tech_client, product):
    tube = product.rna.isolation.aliquot
    patient = tube.draw.patient
    target = study_assays()[0]
    measured(product, target, [27.25, 27.5, None])
    response = tech_client.get(f"/patients/{patient.study_id.lower()}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert tube.barcode in body
    assert product.rna.isolation.batch.code in body
    assert "RT-PAT-1" in body
    assert f"{target.target}: 27.25, 27.5, —" in body


def test_identities_are_shown_to_curators_only(tech_client, curator_client, product):
    patient = product.rna.isolation.aliquot.draw.patient
    PatientIdentity.objects.create(
        patient=patient, full_name="Secret Name", hospital_number="H-1", date_of_birth="1950-01-01"
    )
    assert "Secret Name" not in tech_client.get(f"/patients/{patient.study_id}/").content.decode()
    assert "Secret Name" in curator_client.get(f"/patients/{patient.study_id}/").content.decode()


def test_an_unknown_patient_is_a_404_and_an_analyst_is_refused(client, analyst, tech_client):
    assert tech_client.get("/patients/NOPE-1/").status_code == 404
    tube = AliquotFactory()
    client.force_login(analyst)
    assert client.get(f"/patients/{tube.draw.patient.study_id}/").status_code == 403


def test_the_search_finds_the_patient_and_the_tube_page_links_it(tech_client):
    tube = AliquotFactory()
    study_id = tube.draw.patient.study_id
    assert tech_client.get("/search/", {"q": study_id})["Location"] == f"/patients/{study_id}/"
    page = tech_client.get(f"/samples/{tube.pk}/").content.decode()
    assert f'href="/patients/{study_id}/"' in page


def test_the_page_runs_a_constant_number_of_queries(tech_client, product):
    patient = product.rna.isolation.aliquot.draw.patient
    assays = study_assays()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert tech_client.get(f"/patients/{patient.study_id}/").status_code == 200
        return len(captured)

    measured(product, assays[0], [27.0, 27.1, 27.2])
    one = queries()
    draw = product.rna.isolation.aliquot.draw
    for _ in range(3):
        AliquotFactory(draw=draw)
    more = ReverseTranscriptionFactory(
        rna__isolation__aliquot=AliquotFactory(draw=draw), code="RT-PAT-2"
    )
    measured(more, assays[1], [30.0, 30.5, 31.0])
    assert queries() == one
