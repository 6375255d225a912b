"""The date rules every write obeys: nothing happened after now, and nothing of a
patient's (consent, samples) before the patient was born.

They are checked here, from full_clean_or_raise(), so every service that saves a
record (web pages, API, admin through the services, imports) refuses the same
dates with the same message, keyed by the field the user typed.

"Now" allows a small clock skew (EXOTRACK["CLOCK_SKEW_MINUTES"]): a bench clock or
a client a few minutes ahead must not make a draw recorded as it happens fail. A
future withdrawal in particular would take the patient out of every analysis at
once, so it is refused rather than scheduled.

The birth message never shows the date of birth: it is identifying, and a
technician who types a draw time may not see it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

# (app_label.ModelName) -> the date and date-time fields that cannot be in the future.
NOT_IN_FUTURE: dict[str, tuple[str, ...]] = {
    "biobank.Patient": ("consent_date", "withdrawn_on"),
    "biobank.PatientIdentity": ("date_of_birth",),
    "biobank.Treatment": ("performed_on",),
    "biobank.ClinicalAssessment": ("assessed_on",),
    "biobank.FollowUp": ("contact_date",),
    "biobank.SerumDraw": ("drawn_at", "centrifuged_at", "frozen_at"),
    "biobank.ExosomeIsolationBatch": ("performed_on",),
    "biobank.RnaIsolation": ("performed_on",),
    "biobank.ReverseTranscription": ("performed_on",),
    "biobank.QpcrPlate": ("run_at",),
    "biobank.TemperatureExcursion": ("started_at", "ended_at"),
}

# The fields of a patient's own that cannot precede the patient's birth (the samples'
# later steps follow the draw, which the draw's own rules keep in order).
NOT_BEFORE_BIRTH: dict[str, tuple[str, ...]] = {
    "biobank.Patient": ("consent_date",),
    "biobank.SerumDraw": ("drawn_at",),
}


def clock_skew() -> dt.timedelta:
    minutes = float(settings.EXOTRACK.get("CLOCK_SKEW_MINUTES", 5))
    return dt.timedelta(minutes=max(0.0, minutes))


def latest_allowed() -> dt.datetime:
    """The latest moment a record may carry: now, plus the allowed clock skew."""
    return timezone.now() + clock_skew()


def _as_moment(value: dt.date | dt.datetime) -> dt.datetime | dt.date:
    if isinstance(value, dt.datetime) and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def in_future(value: dt.date | dt.datetime | None, *, limit: dt.datetime | None = None) -> bool:
    """True for a date after today, or a moment after now (both with the clock skew)."""
    if not isinstance(value, dt.date):
        return False  # missing, or a value full_clean() already refused
    limit = limit or latest_allowed()
    if isinstance(value, dt.datetime):
        return _as_moment(value) > limit
    return value > timezone.localdate(limit)


def future_message(value: dt.date | dt.datetime, label: str) -> str:
    if isinstance(value, dt.datetime):
        now = timezone.localtime(timezone.now())
        return f"{label} cannot be in the future (it is now {now:%Y-%m-%d %H:%M})"
    return f"{label} cannot be in the future (today is {timezone.localdate():%Y-%m-%d})"


def check_not_in_future(instance: models.Model, fields: Iterable[str]) -> None:
    """Refuse each named date or date-time field of `instance` that lies ahead."""
    limit = latest_allowed()
    errors = {}
    for name in fields:
        value = getattr(instance, name)
        if in_future(value, limit=limit):
            label = str(instance._meta.get_field(name).verbose_name).capitalize()
            errors[name] = future_message(value, label)
    if errors:
        raise ValidationError(errors)


def date_of_birth(patient) -> dt.date | None:
    """The patient's date of birth, or None when no identity is recorded."""
    if patient is None or patient.pk is None:
        return None
    from biobank.models import PatientIdentity

    return (
        PatientIdentity.objects.filter(patient_id=patient.pk)
        .values_list("date_of_birth", flat=True)
        .first()
    )


def _day(value: dt.date | dt.datetime) -> dt.date:
    if isinstance(value, dt.datetime):
        return timezone.localtime(_as_moment(value)).date()
    return value


def check_not_before_birth(instance: models.Model, fields: Iterable[str], born: dt.date) -> None:
    errors = {}
    for name in fields:
        value = getattr(instance, name)
        if isinstance(value, dt.date) and _day(value) < born:
            label = str(instance._meta.get_field(name).verbose_name).capitalize()
            errors[name] = f"{label} cannot be before the patient's date of birth"
    if errors:
        raise ValidationError(errors)


def _patient_of(instance: models.Model):
    if instance._meta.label == "biobank.Patient":
        return instance
    if getattr(instance, "patient_id", None) is not None:
        return instance.patient
    treatment = getattr(instance, "treatment", None)  # a draw before derive_draw_timing
    return treatment.patient if treatment is not None else None


def check_dates(instance: models.Model) -> None:
    """Every date rule that applies to `instance` (a no-op for other models)."""
    label = instance._meta.label
    if label in NOT_IN_FUTURE:
        check_not_in_future(instance, NOT_IN_FUTURE[label])
    if label in NOT_BEFORE_BIRTH:
        born = date_of_birth(_patient_of(instance))
        if born is not None:
            check_not_before_birth(instance, NOT_BEFORE_BIRTH[label], born)
    if label == "biobank.PatientIdentity":
        check_birth_before_consent(instance)


def check_birth_before_consent(identity) -> None:
    """An identity recorded after its patient: the consent on file cannot precede birth."""
    born = identity.date_of_birth
    if identity.patient_id and isinstance(born, dt.date) and identity.patient.consent_date < born:
        raise ValidationError(
            {"date_of_birth": "The date of birth cannot be after the patient's consent date"}
        )
