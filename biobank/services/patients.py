"""Patients, identities, baselines, treatments and follow-up."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction

from biobank.models import ClinicalAssessment, FollowUp, Patient, PatientIdentity, Treatment

from .common import save_validated


@transaction.atomic
def patient_create(
    *,
    study_id: str,
    sex: str,
    age_at_enrolment: int,
    liver_background: str,
    etiology: str,
    type2_diabetes: bool,
    consent_date: dt.date,
    identity: dict | None = None,
) -> Patient:
    """Enrol a patient; `identity` (full_name, hospital_number, date_of_birth) is stored apart."""
    patient = save_validated(
        Patient(
            study_id=study_id,
            sex=sex,
            age_at_enrolment=age_at_enrolment,
            liver_background=liver_background,
            etiology=etiology,
            type2_diabetes=type2_diabetes,
            consent_date=consent_date,
        )
    )
    if identity:
        save_validated(PatientIdentity(patient=patient, **identity))
    return patient


@transaction.atomic
def patient_withdraw(*, patient: Patient, withdrawn_on: dt.date, reason: str) -> Patient:
    """Record withdrawal of consent. The patient stays in the database, marked, and
    is left out of analyses and exports from now on."""
    if patient.withdrawn_on is not None:
        raise ValidationError(
            {"withdrawn_on": f"{patient.study_id} withdrew on {patient.withdrawn_on}"}
        )
    if not reason.strip():
        raise ValidationError({"withdrawal_reason": "Give the reason for the withdrawal"})
    patient.withdrawn_on = withdrawn_on
    patient.withdrawal_reason = reason.strip()
    return save_validated(patient)


@transaction.atomic
def treatment_create(
    *,
    patient: Patient,
    performed_on: dt.date,
    anticancer_agent: str,
    mitomycin_c: bool = True,
    lipiodol: bool = True,
    gelatin_sponge_embolisation: bool = True,
    is_initial: bool = True,
) -> Treatment:
    if is_initial and patient.treatments.filter(is_initial=True).exists():
        raise ValidationError(
            {"is_initial": f"{patient.study_id} already has an initial treatment"}
        )
    if performed_on < patient.consent_date:
        raise ValidationError(
            {"performed_on": "The treatment is dated before the patient's consent"}
        )
    return save_validated(
        Treatment(
            patient=patient,
            performed_on=performed_on,
            anticancer_agent=anticancer_agent,
            mitomycin_c=mitomycin_c,
            lipiodol=lipiodol,
            gelatin_sponge_embolisation=gelatin_sponge_embolisation,
            is_initial=is_initial,
        )
    )


@transaction.atomic
def clinical_assessment_record(
    *, patient: Patient, treatment: Treatment | None, assessed_on: dt.date, **values
) -> ClinicalAssessment:
    """Record a baseline. Out-of-range values are refused with the field named; the
    Child-Pugh score is derived and a disagreeing recorded score is flagged."""
    if treatment is not None:
        if treatment.patient_id != patient.pk:
            raise ValidationError({"treatment": "This treatment belongs to another patient"})
        if assessed_on > treatment.performed_on:
            raise ValidationError(
                {"assessed_on": "A baseline must be assessed on or before the TACE"}
            )
    unknown = set(values) - {field.name for field in ClinicalAssessment._meta.fields}
    if unknown:
        raise ValidationError(f"Unknown clinical fields: {', '.join(sorted(unknown))}")
    return save_validated(
        ClinicalAssessment(patient=patient, treatment=treatment, assessed_on=assessed_on, **values)
    )


@transaction.atomic
def clinical_assessment_update(*, assessment: ClinicalAssessment, **values) -> ClinicalAssessment:
    for name, value in values.items():
        if name in {
            "id",
            "patient",
            "child_pugh_score",
            "child_pugh_grade",
            "child_pugh_disagrees",
        }:
            raise ValidationError({name: "This field cannot be changed here"})
        setattr(assessment, name, value)
    return save_validated(assessment)


def follow_up_check(
    *, patient: Patient, contact_date: dt.date, status: str, cause_of_death: str, exclude_pk=None
) -> None:
    """The follow-up rules, shared by the service and the admin's form: a death needs
    its cause; nothing may follow a recorded death, and no contact may precede the
    initial TACE (survival is counted from it)."""
    if status == FollowUp.Status.DEAD and not cause_of_death:
        raise ValidationError({"cause_of_death": "A death needs its cause (HCC-related or other)"})
    if status != FollowUp.Status.DEAD and cause_of_death:
        raise ValidationError({"cause_of_death": "Only a death has a cause"})
    others = patient.follow_ups.exclude(pk=exclude_pk)
    death = others.filter(status=FollowUp.Status.DEAD).first()
    if death is not None and contact_date > death.contact_date:
        raise ValidationError({"contact_date": f"{patient.study_id} died on {death.contact_date}"})
    if status == FollowUp.Status.DEAD and others.filter(contact_date__gt=contact_date).exists():
        raise ValidationError(
            {"contact_date": "A later contact exists; a death must be the last one"}
        )
    initial = patient.treatments.filter(is_initial=True).first()
    if initial is not None and contact_date < initial.performed_on:
        raise ValidationError({"contact_date": "A follow-up cannot precede the initial TACE"})


@transaction.atomic
def follow_up_record(
    *, patient: Patient, contact_date: dt.date, status: str, cause_of_death: str = "", user=None
) -> FollowUp:
    """Record a contact with the patient (see follow_up_check for the rules)."""
    follow_up_check(
        patient=patient, contact_date=contact_date, status=status, cause_of_death=cause_of_death
    )
    return save_validated(
        FollowUp(
            patient=patient,
            contact_date=contact_date,
            status=status,
            cause_of_death=cause_of_death,
            recorded_by=user,
        )
    )


@transaction.atomic
def follow_up_update(*, follow_up: FollowUp, **values) -> FollowUp:
    for name, value in values.items():
        setattr(follow_up, name, value)
    follow_up_check(
        patient=follow_up.patient,
        contact_date=follow_up.contact_date,
        status=follow_up.status,
        cause_of_death=follow_up.cause_of_death,
        exclude_pk=follow_up.pk,
    )
    return save_validated(follow_up)
