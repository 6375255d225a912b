"""Dates: nothing after now (a small, configurable clock skew allowed), consent and
samples not before the patient's birth; each refusal names the field typed, and
nothing is saved (issue 17)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from biobank.models import Patient, PatientIdentity, SerumDraw
from biobank.services.draws import serum_draw_register, serum_draw_update
from biobank.services.patients import (
    follow_up_record,
    patient_create,
    patient_withdraw,
    treatment_create,
)
from biobank.services.plates import plate_create
from biobank.services.processing import (
    exosome_isolation_batch_record,
    reverse_transcription_record,
    rna_isolation_record,
)
from biobank.services.storage import temperature_excursion_record

from .factories import (
    AliquotFactory,
    ExosomeIsolationFactory,
    FreezerFactory,
    PatientFactory,
    RnaIsolationFactory,
    TreatmentFactory,
    UserFactory,
    study_assays,
)

pytestmark = pytest.mark.django_db

TOMORROW = timezone.localdate() + dt.timedelta(days=1)


def in_an_hour() -> dt.datetime:
    return timezone.now() + dt.timedelta(hours=1)


def refused(field: str, call, *args, **kwargs) -> str:
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    errors = caught.value.message_dict
    assert field in errors, errors
    return " ".join(errors[field])


PATIENT = dict(
    sex="F",
    age_at_enrolment=66,
    liver_background=Patient.LiverBackground.CIRRHOSIS,
    etiology=Patient.Etiology.HCV,
    type2_diabetes=False,
)


def identity(born: dt.date) -> dict:
    return {"full_name": "A Person", "hospital_number": "H-0001", "date_of_birth": born}


class TestNothingInTheFuture:
    def test_consent_date(self):
        message = refused(
            "consent_date", patient_create, study_id="F-1", consent_date=TOMORROW, **PATIENT
        )
        assert "future" in message
        assert not Patient.objects.filter(study_id="F-1").exists()
        assert patient_create(study_id="F-2", consent_date=timezone.localdate(), **PATIENT)

    def test_a_future_withdrawal_is_refused_and_the_patient_stays_in(self):
        patient = PatientFactory()
        refused(
            "withdrawn_on", patient_withdraw, patient=patient, withdrawn_on=TOMORROW, reason="x"
        )
        patient.refresh_from_db()
        assert patient.withdrawn_on is None
        assert Patient.objects.filter(pk=patient.pk, withdrawn_on__isnull=True).exists()

    def test_treatment_date(self):
        patient = PatientFactory()
        refused(
            "performed_on",
            treatment_create,
            patient=patient,
            performed_on=TOMORROW,
            anticancer_agent="epirubicin",
        )
        assert not patient.treatments.exists()

    @pytest.mark.parametrize("field", ["drawn_at", "centrifuged_at", "frozen_at"])
    def test_draw_centrifuge_and_freeze_times(self, field):
        treatment = TreatmentFactory(performed_on=timezone.localdate() - dt.timedelta(days=7))
        drawn = timezone.now() - dt.timedelta(hours=3)
        times = {
            "drawn_at": drawn,
            "centrifuged_at": drawn + dt.timedelta(hours=1),
            "frozen_at": drawn + dt.timedelta(hours=2),
        }
        if field == "drawn_at":  # moved ahead with what follows it, to stay in order
            times = {name: value + dt.timedelta(hours=4) for name, value in times.items()}
        else:
            times[field] = in_an_hour()
            if field == "centrifuged_at":
                times["frozen_at"] = in_an_hour() + dt.timedelta(minutes=5)
        refused(
            field,
            serum_draw_register,
            treatment=treatment,
            timepoint=SerumDraw.Timepoint.POST,
            serum_volume_ul=1000,
            **times,
        )
        assert not SerumDraw.objects.exists()

    def test_correcting_a_draw_into_the_future_is_refused(self):
        treatment = TreatmentFactory(performed_on=timezone.localdate() - dt.timedelta(days=7))
        draw = serum_draw_register(
            treatment=treatment,
            timepoint=SerumDraw.Timepoint.POST,
            drawn_at=timezone.now() - dt.timedelta(hours=2),
            serum_volume_ul=1000,
        )
        refused("drawn_at", serum_draw_update, draw=draw, drawn_at=in_an_hour())

    def test_follow_up_contact_date(self):
        treatment = TreatmentFactory()
        refused(
            "contact_date",
            follow_up_record,
            patient=treatment.patient,
            contact_date=TOMORROW,
            status="alive",
        )

    def test_exosome_isolation_date(self):
        user = UserFactory()
        aliquot = AliquotFactory()
        refused(
            "performed_on",
            exosome_isolation_batch_record,
            code="EXO-F1",
            performed_on=TOMORROW,
            exoquick_lot="EQ",
            spike_in_lot="CEL",
            aliquots=[aliquot],
            user=user,
        )
        aliquot.refresh_from_db()
        assert aliquot.volume_ul == Decimal("250")  # nothing taken

    def test_rna_isolation_date(self):
        isolation = ExosomeIsolationFactory()
        refused(
            "performed_on",
            rna_isolation_record,
            isolation=isolation,
            kit_lot="MV",
            performed_on=TOMORROW,
        )

    def test_reverse_transcription_date(self):
        rna = RnaIsolationFactory()
        refused(
            "performed_on",
            reverse_transcription_record,
            code="RT-F1",
            rna=rna,
            kit_lot="RT",
            performed_on=TOMORROW,
            assays=study_assays(),
        )

    def test_plate_run_date(self):
        refused("run_at", plate_create, barcode="PL-F1", run_at=in_an_hour())
        assert plate_create(barcode="PL-F2", run_at=timezone.now() - dt.timedelta(days=1))

    @pytest.mark.parametrize("field", ["started_at", "ended_at"])
    def test_excursion_times(self, field):
        times = {"started_at": timezone.now() - dt.timedelta(hours=2), "ended_at": None}
        times[field] = in_an_hour()
        if field == "started_at":
            times["ended_at"] = in_an_hour() + dt.timedelta(minutes=10)
        refused(
            field,
            temperature_excursion_record,
            freezer=FreezerFactory(),
            peak_temperature_c=-50,
            user=None,
            **times,
        )


class TestClockSkew:
    def test_a_moment_within_the_skew_is_accepted_and_beyond_it_refused(self, settings):
        settings.EXOTRACK = {**settings.EXOTRACK, "CLOCK_SKEW_MINUTES": 5}
        assert plate_create(barcode="PL-S1", run_at=timezone.now() + dt.timedelta(minutes=3))
        refused(
            "run_at", plate_create, barcode="PL-S2", run_at=timezone.now() + dt.timedelta(minutes=8)
        )
        settings.EXOTRACK = {**settings.EXOTRACK, "CLOCK_SKEW_MINUTES": 15}
        assert plate_create(barcode="PL-S3", run_at=timezone.now() + dt.timedelta(minutes=8))
        settings.EXOTRACK = {**settings.EXOTRACK, "CLOCK_SKEW_MINUTES": 0}
        refused(
            "run_at", plate_create, barcode="PL-S4", run_at=timezone.now() + dt.timedelta(minutes=1)
        )


class TestNotBeforeBirth:
    def test_consent_before_birth_is_refused_with_nothing_saved(self):
        refused(
            "date_of_birth",
            patient_create,
            study_id="B-1",
            consent_date=dt.date(1990, 1, 1),
            identity=identity(dt.date(1995, 5, 5)),
            **PATIENT,
        )
        assert not Patient.objects.filter(study_id="B-1").exists()

    def test_moving_the_consent_before_birth_is_refused(self):
        patient = patient_create(
            study_id="B-2",
            consent_date=dt.date(2010, 1, 1),
            identity=identity(dt.date(1950, 5, 5)),
            **PATIENT,
        )
        from biobank.services.common import save_validated

        patient.consent_date = dt.date(1949, 12, 31)
        message = refused("consent_date", save_validated, patient)
        assert "birth" in message and "1950" not in message  # the birth date is not shown

    def test_a_sample_drawn_before_birth_is_refused(self):
        patient = PatientFactory(consent_date=dt.date(2010, 1, 1))
        PatientIdentity.objects.create(
            patient=patient,
            full_name="B",
            hospital_number="H-B3",
            date_of_birth=dt.date(1950, 6, 1),
        )
        treatment = TreatmentFactory(patient=patient, performed_on=dt.date(2010, 1, 10))
        born_eve = timezone.make_aware(dt.datetime(1950, 5, 31, 12, 0))
        message = refused(
            "drawn_at",
            serum_draw_register,
            treatment=treatment,
            timepoint=SerumDraw.Timepoint.PRE,
            drawn_at=born_eve,
            serum_volume_ul=1000,
        )
        assert "birth" in message and "1950" not in message
        assert serum_draw_register(
            treatment=treatment,
            timepoint=SerumDraw.Timepoint.PRE,
            drawn_at=timezone.make_aware(dt.datetime(2010, 1, 9, 8, 0)),
            serum_volume_ul=1000,
        )

    def test_no_identity_on_file_means_no_birth_check(self):
        treatment = TreatmentFactory()
        assert serum_draw_register(
            treatment=treatment,
            timepoint=SerumDraw.Timepoint.PRE,
            drawn_at=timezone.make_aware(dt.datetime(2005, 1, 1, 8, 0)),
            serum_volume_ul=1000,
        )
