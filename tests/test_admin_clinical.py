"""The clinical records in the admin go through their services (issue 17, item 2).

For each admin a technician's POST is a 403 with nothing changed, and a curator's
add or change runs the service: a rule only the service holds comes back on its
field, and what passes is written by the service (who recorded it, the withdrawal).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from biobank import models as m
from biobank.services.patients import follow_up_record

from .factories import PatientFactory, SerumDrawFactory, TreatmentFactory

pytestmark = pytest.mark.django_db

NO_IDENTITY_INLINE = {
    "identity-TOTAL_FORMS": 0,
    "identity-INITIAL_FORMS": 0,
    "identity-MIN_NUM_FORMS": 0,
    "identity-MAX_NUM_FORMS": 1,
}


def admin_url(model, view="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code
    return {
        field: list(errors) for field, errors in response.context["adminform"].form.errors.items()
    }


# ------------------------------------------------------------------ patients


def patient_post(patient, **overrides):
    return {
        "study_id": patient.study_id,
        "sex": patient.sex,
        "age_at_enrolment": patient.age_at_enrolment,
        "liver_background": patient.liver_background,
        "etiology": patient.etiology,
        "consent_date": patient.consent_date.isoformat(),
        "withdrawn_on": "",
        "withdrawal_reason": "",
        **NO_IDENTITY_INLINE,
        **overrides,
    }


def test_a_technician_cannot_add_or_change_a_patient(client, technician):
    patient = PatientFactory(age_at_enrolment=70)
    client.force_login(technician)
    url = admin_url(m.Patient, "change", patient.pk)
    assert client.post(url, patient_post(patient, age_at_enrolment=71)).status_code == 403
    assert client.post(admin_url(m.Patient, "add"), patient_post(patient)).status_code == 403
    patient.refresh_from_db()
    assert patient.age_at_enrolment == 70 and m.Patient.objects.count() == 1


def test_a_curator_cannot_move_consent_after_the_first_treatment(client, curator):
    treatment = TreatmentFactory(performed_on=dt.date(2010, 1, 10))
    patient = treatment.patient
    client.force_login(curator)
    response = client.post(
        admin_url(m.Patient, "change", patient.pk),
        patient_post(patient, consent_date="2010-01-11"),
    )
    assert form_errors(response)["consent_date"] == [
        f"{patient.study_id} was treated on 2010-01-10, before this"
    ]
    patient.refresh_from_db()
    assert patient.consent_date == dt.date(2010, 1, 1)


def test_a_curator_withdraws_a_patient_through_patient_withdraw(client, curator):
    patient = PatientFactory()
    client.force_login(curator)
    url = admin_url(m.Patient, "change", patient.pk)
    # patient_withdraw wants a reason: refused on the reason, nothing kept.
    response = client.post(url, patient_post(patient, withdrawn_on="2011-05-01"))
    assert form_errors(response)["withdrawal_reason"] == ["Give the reason for the withdrawal"]
    patient.refresh_from_db()
    assert patient.withdrawn_on is None
    response = client.post(
        url, patient_post(patient, withdrawn_on="2011-05-01", withdrawal_reason=" moved away ")
    )
    assert response.status_code == 302, form_errors(response)
    patient.refresh_from_db()
    assert (patient.withdrawn_on, patient.withdrawal_reason) == (dt.date(2011, 5, 1), "moved away")
    # Once withdrawn the withdrawal is read-only: a later edit cannot undo it.
    response = client.post(url, patient_post(patient, withdrawn_on="", age_at_enrolment=71))
    assert response.status_code == 302, form_errors(response)
    patient.refresh_from_db()
    assert (patient.withdrawn_on, patient.age_at_enrolment) == (dt.date(2011, 5, 1), 71)


def test_a_curator_adds_a_patient_and_deletes_only_one_without_data(client, curator):
    client.force_login(curator)
    blank = PatientFactory.build(study_id="T-NEW")
    response = client.post(admin_url(m.Patient, "add"), patient_post(blank, type2_diabetes="on"))
    assert response.status_code == 302, form_errors(response)
    added = m.Patient.objects.get(study_id="T-NEW")
    assert added.type2_diabetes is True and added.history.latest().history_user == curator
    treated = TreatmentFactory().patient
    assert (
        client.post(admin_url(m.Patient, "delete", treated.pk), {"post": "yes"}).status_code == 403
    )
    assert client.post(admin_url(m.Patient, "delete", added.pk), {"post": "yes"}).status_code == 302
    assert list(m.Patient.objects.all()) == [treated]


# ------------------------------------------------------------------ identities


def identity_post(patient, **overrides):
    return {
        "patient": patient.pk,
        "full_name": "Hanako Tanaka",
        "hospital_number": "H7654321",
        "date_of_birth": "1940-01-01",
        **overrides,
    }


def test_a_technician_cannot_add_an_identity(client, technician):
    patient = PatientFactory()
    client.force_login(technician)
    response = client.post(admin_url(m.PatientIdentity, "add"), identity_post(patient))
    assert response.status_code == 403
    assert not m.PatientIdentity.objects.exists()


def test_a_curator_identity_is_born_before_consent(client, curator):
    patient = PatientFactory(consent_date=dt.date(2010, 1, 1))
    client.force_login(curator)
    response = client.post(
        admin_url(m.PatientIdentity, "add"), identity_post(patient, date_of_birth="2010-01-01")
    )
    assert form_errors(response)["date_of_birth"] == [
        f"Born on or after {patient.study_id}'s consent (2010-01-01)"
    ]
    assert not m.PatientIdentity.objects.exists()
    response = client.post(admin_url(m.PatientIdentity, "add"), identity_post(patient))
    assert response.status_code == 302, form_errors(response)
    identity = m.PatientIdentity.objects.get()
    # On change the patient is read-only: a posted other patient is ignored.
    other = PatientFactory()
    response = client.post(
        admin_url(m.PatientIdentity, "change", identity.pk),
        identity_post(other, full_name="Hanako Suzuki"),
    )
    assert response.status_code == 302, form_errors(response)
    identity.refresh_from_db()
    assert (identity.patient, identity.full_name) == (patient, "Hanako Suzuki")


# ------------------------------------------------------------------ treatments


def treatment_post(treatment, **overrides):
    return {
        "patient": treatment.patient_id,
        "kind": treatment.kind,
        "performed_on": treatment.performed_on.isoformat(),
        "anticancer_agent": treatment.anticancer_agent,
        "mitomycin_c": "on",
        "lipiodol": "on",
        "gelatin_sponge_embolisation": "on",
        "is_initial": "on" if treatment.is_initial else "",
        **overrides,
    }


def test_a_technician_cannot_add_a_treatment(client, technician):
    treatment = TreatmentFactory.build(patient=PatientFactory())
    client.force_login(technician)
    response = client.post(admin_url(m.Treatment, "add"), treatment_post(treatment))
    assert response.status_code == 403
    assert not m.Treatment.objects.exists()


def test_a_curator_cannot_add_a_second_initial_treatment(client, curator):
    first = TreatmentFactory()
    client.force_login(curator)
    response = client.post(
        admin_url(m.Treatment, "add"), treatment_post(first, performed_on="2010-06-01")
    )
    assert form_errors(response).get("is_initial") == [
        f"{first.patient.study_id} already has an initial treatment"
    ]
    assert m.Treatment.objects.count() == 1
    response = client.post(
        admin_url(m.Treatment, "add"),
        treatment_post(first, performed_on="2010-06-01", is_initial=""),
    )
    assert response.status_code == 302, form_errors(response)
    assert first.patient.treatments.count() == 2


def test_a_treatment_with_draws_keeps_its_date_and_is_not_deleted(client, curator):
    draw = SerumDrawFactory()
    treatment = draw.treatment
    client.force_login(curator)
    response = client.post(
        admin_url(m.Treatment, "change", treatment.pk),
        treatment_post(treatment, performed_on="2010-01-12"),
    )
    assert form_errors(response)["performed_on"] == ["1 draw(s) are timed from this date"]
    treatment.refresh_from_db()
    assert treatment.performed_on == dt.date(2010, 1, 10)
    url = admin_url(m.Treatment, "delete", treatment.pk)
    assert client.post(url, {"post": "yes"}).status_code == 403
    bare = TreatmentFactory()
    assert (
        client.post(admin_url(m.Treatment, "delete", bare.pk), {"post": "yes"}).status_code == 302
    )
    assert list(m.Treatment.objects.all()) == [treatment]


# ------------------------------------------------------------------ baselines


def test_a_baseline_cannot_be_moved_after_its_tace(client, curator, technician):
    treatment = TreatmentFactory(performed_on=dt.date(2010, 1, 10))
    client.force_login(curator)
    response = client.post(
        admin_url(m.ClinicalAssessment, "add"),
        {
            "patient": treatment.patient_id,
            "treatment": treatment.pk,
            "assessed_on": "2010-01-09",
            "total_bilirubin_mg_dl": "1.0",
            "albumin_g_dl": "4.0",
            "pt_percent": "90",
            "ascites": "none",
            "encephalopathy": "none",
        },
    )
    assert response.status_code == 302, form_errors(response)
    baseline = m.ClinicalAssessment.objects.get()
    assert (baseline.child_pugh_score, baseline.child_pugh_grade) == (5, "A")  # 1+1+1+1+1
    change = {"treatment": treatment.pk, "assessed_on": "2010-01-11"}
    client.force_login(technician)
    response = client.post(admin_url(m.ClinicalAssessment, "change", baseline.pk), change)
    assert response.status_code == 403
    client.force_login(curator)
    response = client.post(admin_url(m.ClinicalAssessment, "change", baseline.pk), change)
    assert form_errors(response)["assessed_on"] == [
        "A baseline must be assessed on or before the TACE"
    ]
    baseline.refresh_from_db()
    assert baseline.assessed_on == dt.date(2010, 1, 9)


# ------------------------------------------------------------------ follow-up


def test_follow_up_in_the_admin_goes_through_its_services(client, curator, technician):
    treatment = TreatmentFactory(performed_on=dt.date(2010, 1, 10))
    patient = treatment.patient
    follow_up_record(
        patient=patient, contact_date=dt.date(2012, 3, 1), status="dead", cause_of_death="hcc"
    )
    alive_after = {"patient": patient.pk, "contact_date": "2012-04-01", "status": "alive"}
    client.force_login(technician)
    assert client.post(admin_url(m.FollowUp, "add"), alive_after).status_code == 403
    client.force_login(curator)
    response = client.post(admin_url(m.FollowUp, "add"), alive_after)
    assert form_errors(response)["contact_date"] == [f"{patient.study_id} died on 2012-03-01"]
    response = client.post(
        admin_url(m.FollowUp, "add"), {**alive_after, "contact_date": "2011-01-01"}
    )
    assert response.status_code == 302, form_errors(response)
    added = patient.follow_ups.get(contact_date=dt.date(2011, 1, 1))
    assert added.recorded_by == curator


# ------------------------------------------------------------------ assays


def test_assays_are_added_through_the_service_and_then_read(client, curator, technician):
    post = {
        "target": " hsa-miR-21-5p ",
        "role": "target",
        "vendor": "Thermo Fisher",
        "vendor_assay_id": "000397",
    }
    client.force_login(technician)
    assert client.post(admin_url(m.Assay, "add"), post).status_code == 403
    client.force_login(curator)
    response = client.post(admin_url(m.Assay, "add"), post)
    assert response.status_code == 302, form_errors(response)
    assay = m.Assay.objects.get()
    # assay_create strips the target (the admin form would keep its spaces).
    assert (assay.target, assay.vendor, assay.vendor_assay_id) == (
        "hsa-miR-21-5p",
        "Thermo Fisher",
        "000397",
    )
    response = client.post(admin_url(m.Assay, "change", assay.pk), {**post, "target": "X"})
    assert response.status_code == 403
    assay.refresh_from_db()
    assert assay.target == "hsa-miR-21-5p"
