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
    if withdrawn_on is None:
        raise ValidationError({"withdrawn_on": "Give the date of the withdrawal"})
    if patient.withdrawn_on is not None:
        raise ValidationError(
            {"withdrawn_on": f"{patient.study_id} withdrew on {patient.withdrawn_on}"}
        )
    if not reason.strip():
        raise ValidationError({"withdrawal_reason": "Give the reason for the withdrawal"})
    patient.withdrawn_on = withdrawn_on
    patient.withdrawal_reason = reason.strip()
    return save_validated(patient)


# What patient_update writes; withdrawal has its own service (patient_withdraw) so
# that it is dated, reasoned and never undone by an edit.
PATIENT_FIELDS = (
    "study_id",
    "sex",
    "age_at_enrolment",
    "liver_background",
    "etiology",
    "type2_diabetes",
    "consent_date",
)


@transaction.atomic
def patient_update(*, patient: Patient, **values) -> Patient:
    """Correct a patient's enrolment data. Withdrawal is not an edit (patient_withdraw);
    the consent date cannot move after a treatment, since nothing is done before consent."""
    for name in values:
        if name in {"withdrawn_on", "withdrawal_reason"}:
            raise ValidationError({name: "Withdrawal is recorded through patient_withdraw"})
        if name not in PATIENT_FIELDS:
            raise ValidationError({name: "This field cannot be changed here"})
    consent_date = values.get("consent_date", patient.consent_date)
    first = patient.treatments.order_by("performed_on").first()
    if first is not None and consent_date > first.performed_on:
        raise ValidationError(
            {"consent_date": f"{patient.study_id} was treated on {first.performed_on}, before this"}
        )
    for name, value in values.items():
        setattr(patient, name, value)
    return save_validated(patient)


@transaction.atomic
def patient_delete(*, patient: Patient) -> None:
    """Only a patient with nothing recorded yet (an enrolment typed twice) is deleted;
    anyone with data is withdrawn instead, so the record of what was done stays."""
    held = {
        "identity": PatientIdentity.objects.filter(patient=patient).exists(),
        "treatments": patient.treatments.exists(),
        "assessments": patient.assessments.exists(),
        "follow-ups": patient.follow_ups.exists(),
        "draws": patient.draws.exists(),
    }
    found = [name for name, exists in held.items() if exists]
    if found:
        raise ValidationError(
            f"{patient.study_id} has {', '.join(found)}; withdraw the patient instead"
        )
    patient.delete()


@transaction.atomic
def patient_identity_record(
    *, patient: Patient, full_name: str, hospital_number: str, date_of_birth: dt.date
) -> PatientIdentity:
    """Store who a study ID is, apart from the pseudonymised record."""
    _identity_check(patient=patient, date_of_birth=date_of_birth)
    return save_validated(
        PatientIdentity(
            patient=patient,
            full_name=full_name,
            hospital_number=hospital_number,
            date_of_birth=date_of_birth,
        )
    )


@transaction.atomic
def patient_identity_update(*, identity: PatientIdentity, **values) -> PatientIdentity:
    """Correct a name, number or birth date; an identity never moves to another patient."""
    for name in values:
        if name not in {"full_name", "hospital_number", "date_of_birth"}:
            raise ValidationError({name: "This field cannot be changed here"})
    for name, value in values.items():
        setattr(identity, name, value)
    _identity_check(patient=identity.patient, date_of_birth=identity.date_of_birth)
    return save_validated(identity)


def _identity_check(*, patient: Patient, date_of_birth: dt.date) -> None:
    if date_of_birth >= patient.consent_date:
        message = f"Born on or after {patient.study_id}'s consent ({patient.consent_date})"
        raise ValidationError({"date_of_birth": message})


def _treatment_check(
    *, patient: Patient, performed_on: dt.date, is_initial: bool, exclude_pk=None
) -> None:
    """One initial treatment per patient, none before consent."""
    others = patient.treatments.exclude(pk=exclude_pk)
    if is_initial and others.filter(is_initial=True).exists():
        raise ValidationError(
            {"is_initial": f"{patient.study_id} already has an initial treatment"}
        )
    if performed_on < patient.consent_date:
        raise ValidationError(
            {"performed_on": "The treatment is dated before the patient's consent"}
        )


@transaction.atomic
def treatment_create(
    *,
    patient: Patient,
    performed_on: dt.date,
    anticancer_agent: str,
    kind: str = Treatment.Kind.TACE,
    mitomycin_c: bool = True,
    lipiodol: bool = True,
    gelatin_sponge_embolisation: bool = True,
    is_initial: bool = True,
) -> Treatment:
    _treatment_check(patient=patient, performed_on=performed_on, is_initial=is_initial)
    return save_validated(
        Treatment(
            patient=patient,
            kind=kind,
            performed_on=performed_on,
            anticancer_agent=anticancer_agent,
            mitomycin_c=mitomycin_c,
            lipiodol=lipiodol,
            gelatin_sponge_embolisation=gelatin_sponge_embolisation,
            is_initial=is_initial,
        )
    )


@transaction.atomic
def treatment_update(*, treatment: Treatment, **values) -> Treatment:
    """Correct a treatment. It stays with its patient; its date does not move once draws
    are timed from it (their timepoint windows) or a baseline would then follow it."""
    if "patient" in values:
        raise ValidationError({"patient": "A treatment stays with its patient"})
    performed_on = values.get("performed_on", treatment.performed_on)
    if performed_on != treatment.performed_on:
        if treatment.draws.exists():
            raise ValidationError(
                {"performed_on": f"{treatment.draws.count()} draw(s) are timed from this date"}
            )
        baseline = ClinicalAssessment.objects.filter(treatment=treatment).first()
        if baseline is not None and baseline.assessed_on > performed_on:
            raise ValidationError(
                {"performed_on": f"Its baseline was assessed on {baseline.assessed_on}, after this"}
            )
    _treatment_check(
        patient=treatment.patient,
        performed_on=performed_on,
        is_initial=values.get("is_initial", treatment.is_initial),
        exclude_pk=treatment.pk,
    )
    for name, value in values.items():
        setattr(treatment, name, value)
    return save_validated(treatment)


@transaction.atomic
def treatment_delete(*, treatment: Treatment) -> None:
    """Only a treatment nothing hangs on (no draws, no baseline) is deleted."""
    if treatment.draws.exists() or ClinicalAssessment.objects.filter(treatment=treatment).exists():
        raise ValidationError(f"{treatment} has draws or a baseline; it cannot be deleted")
    treatment.delete()


def _assessment_check(*, patient: Patient, treatment: Treatment | None, assessed_on) -> None:
    if treatment is not None:
        if treatment.patient_id != patient.pk:
            raise ValidationError({"treatment": "This treatment belongs to another patient"})
        if assessed_on > treatment.performed_on:
            raise ValidationError(
                {"assessed_on": "A baseline must be assessed on or before the TACE"}
            )


@transaction.atomic
def clinical_assessment_record(
    *, patient: Patient, treatment: Treatment | None, assessed_on: dt.date, **values
) -> ClinicalAssessment:
    """Record a baseline. Out-of-range values are refused with the field named; the
    Child-Pugh score is derived and a disagreeing recorded score is flagged."""
    _assessment_check(patient=patient, treatment=treatment, assessed_on=assessed_on)
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
    # The same rules as a new baseline: its TACE is the patient's and not before it.
    _assessment_check(
        patient=assessment.patient,
        treatment=assessment.treatment,
        assessed_on=assessment.assessed_on,
    )
    return save_validated(assessment)


@transaction.atomic
def clinical_assessment_delete(*, assessment: ClinicalAssessment) -> None:
    """Nothing refers to a baseline; deleting one is a correction the history keeps."""
    assessment.delete()


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
    """Correct a contact; it stays with its patient and with whoever recorded it."""
    for name in values:
        if name not in {"contact_date", "status", "cause_of_death"}:
            raise ValidationError({name: "This field cannot be changed here"})
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


@transaction.atomic
def follow_up_delete(*, follow_up: FollowUp) -> None:
    """A contact entered by mistake; removing one never breaks the rules of the others."""
    follow_up.delete()
