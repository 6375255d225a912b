"""The curators' admin: every model is there, lists are searchable without N+1,
identities are for curators only, and every change keeps its history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank import models as m

from .factories import AliquotFactory, PatientFactory, TreatmentFactory

pytestmark = pytest.mark.django_db

BIOBANK_MODELS = [model for model in admin.site._registry if model._meta.app_label == "biobank"]


def admin_url(model, view="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_biobank_model_is_in_the_admin():
    from django.apps import apps

    concrete = {
        model
        for model in apps.get_app_config("biobank").get_models()
        if not model.__name__.startswith("Historical")
        # The cohort cache is derived and rebuilt at will: nothing for a curator to edit.
        and model.__module__ != "biobank.models.cohort_cache"
    }
    assert concrete == set(BIOBANK_MODELS)


@pytest.mark.parametrize("model", BIOBANK_MODELS, ids=lambda model: model.__name__)
def test_changelists_and_searches_load_for_a_curator(client, curator, model):
    AliquotFactory()
    client.force_login(curator)
    assert client.get(admin_url(model)).status_code == 200
    assert client.get(admin_url(model), {"q": "T-0"}).status_code == 200


def test_aliquot_changelist_runs_a_constant_number_of_queries(client, curator):
    client.force_login(curator)
    AliquotFactory()
    with CaptureQueriesContext(connection) as one:
        client.get(admin_url(m.Aliquot))
    for _ in range(10):
        AliquotFactory()
    with CaptureQueriesContext(connection) as eleven:
        client.get(admin_url(m.Aliquot))
    assert len(eleven) == len(one)


def test_identities_are_for_curators_only(client, technician, curator):
    patient = PatientFactory()
    m.PatientIdentity.objects.create(
        patient=patient,
        full_name="Hanako Tanaka",
        hospital_number="H1234567",
        date_of_birth=dt.date(1940, 1, 1),
    )
    client.force_login(technician)
    assert client.get(admin_url(m.PatientIdentity)).status_code == 403
    page = client.get(admin_url(m.Patient, "change", patient.pk))
    assert page.status_code == 200 and "Hanako" not in page.content.decode()
    client.force_login(curator)
    assert "Hanako Tanaka" in client.get(admin_url(m.PatientIdentity)).content.decode()
    assert "Hanako" in client.get(admin_url(m.Patient, "change", patient.pk)).content.decode()


def test_technician_reads_but_does_not_edit_clinical_data(client, technician):
    treatment = TreatmentFactory()
    client.force_login(technician)
    assert client.get(admin_url(m.Treatment)).status_code == 200
    response = client.post(
        admin_url(m.Treatment, "change", treatment.pk), {"performed_on": "2010-02-02"}
    )
    assert response.status_code == 403


def test_a_curator_edit_keeps_who_and_what_in_the_history(client, curator):
    patient = PatientFactory(type2_diabetes=False)
    client.force_login(curator)
    data = {
        "study_id": patient.study_id,
        "sex": "F",
        "age_at_enrolment": 71,
        "liver_background": "cirrhosis",
        "etiology": "HCV",
        "type2_diabetes": "on",
        "consent_date": "2010-01-01",
        "identity-TOTAL_FORMS": 0,
        "identity-INITIAL_FORMS": 0,
        "identity-MIN_NUM_FORMS": 0,
        "identity-MAX_NUM_FORMS": 1,
    }
    response = client.post(admin_url(m.Patient, "change", patient.pk), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = patient.history.latest()
    assert latest.history_user == curator and latest.type2_diabetes is True and latest.sex == "F"
    assert client.get(admin_url(m.Patient, "history", patient.pk)).status_code == 200


def test_admin_refuses_a_post_draw_before_its_tace_with_the_field_named(client, curator):
    treatment = TreatmentFactory()
    client.force_login(curator)
    response = client.post(
        admin_url(m.SerumDraw, "add"),
        {
            "treatment": treatment.pk,
            "timepoint": "POST",
            "drawn_at_0": "2010-01-05",
            "drawn_at_1": "08:00",
            "serum_volume_ul": "1000",
            "haemolysis": "none",
            "container": "SST",
            "storage_temperature_c": "-80",
        },
    )
    assert response.status_code == 200
    assert "A POST draw must be after the TACE" in response.content.decode()
    assert not m.SerumDraw.objects.exists()


def test_admin_refuses_a_negative_a414_with_the_field_named(client, curator):
    treatment = TreatmentFactory()
    client.force_login(curator)
    response = client.post(
        admin_url(m.SerumDraw, "add"),
        {
            "treatment": treatment.pk,
            "timepoint": "PRE",
            "drawn_at_0": "2010-01-05",
            "drawn_at_1": "08:00",
            "serum_volume_ul": "1000",
            "haemolysis": "none",
            "a414": "-0.1",
            "container": "SST",
            "storage_temperature_c": "-80",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "field-a414" in html and "greater than or equal to 0" in html
    assert not m.SerumDraw.objects.exists()


def test_admin_refuses_a_pt_of_750(client, curator):
    treatment = TreatmentFactory()
    client.force_login(curator)
    response = client.post(
        admin_url(m.ClinicalAssessment, "add"),
        {
            "patient": treatment.patient.pk,
            "treatment": treatment.pk,
            "assessed_on": "2010-01-09",
            "pt_percent": "750",
        },
    )
    assert response.status_code == 200
    assert "less than or equal to 150" in response.content.decode()
    assert not m.ClinicalAssessment.objects.exists()


def test_aliquot_check_out_action_goes_through_the_service(client, curator):
    aliquot = AliquotFactory()
    client.force_login(curator)
    client.post(admin_url(m.Aliquot), {"action": "check_out", "_selected_action": [aliquot.pk]})
    aliquot.refresh_from_db()
    assert aliquot.status == "out"
    assert aliquot.events.get().kind == "check_out"


def test_role_groups_exist_with_their_permissions():
    from django.contrib.auth.models import Group

    technician = Group.objects.get(name="technician")
    codenames = set(technician.permissions.values_list("codename", flat=True))
    assert {"add_aliquot", "change_aliquot", "view_patient", "add_serumdraw"} <= codenames
    assert "view_patientidentity" not in codenames and "change_patient" not in codenames
    curator = set(Group.objects.get(name="curator").permissions.values_list("codename", flat=True))
    assert {"view_patientidentity", "change_patient", "change_followup"} <= curator


def test_home_page_needs_login_and_shows_counts(client, technician):
    assert client.get("/").status_code == 302
    client.force_login(technician)
    assert "patients" in client.get("/").content.decode()
