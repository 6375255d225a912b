"""Bad clinical and sample input is refused with a message naming the field."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from biobank.domain.child_pugh import child_pugh
from biobank.models import ClinicalAssessment, SerumDraw
from biobank.services.draws import serum_draw_register, serum_draw_update
from biobank.services.patients import (
    clinical_assessment_record,
    follow_up_record,
    patient_withdraw,
    treatment_create,
)

from .factories import PatientFactory, SerumDrawFactory, TreatmentFactory

BASELINE = dict(
    ast_iu_l=47,
    alt_iu_l=33,
    total_bilirubin_mg_dl=0.9,
    albumin_g_dl=3.6,
    pt_percent=75,
    ascites="none",
    encephalopathy="none",
)


def at(day: dt.date, hour: int = 8) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 0)))


@pytest.mark.django_db
class TestClinicalRanges:
    @pytest.mark.parametrize(
        ("field", "value"),
        [("pt_percent", 750), ("albumin_g_dl", 0), ("ast_iu_l", -3), ("tumour_number", 0)],
    )
    def test_out_of_range_is_refused_naming_the_field(self, field, value):
        treatment = TreatmentFactory()
        with pytest.raises(ValidationError) as caught:
            clinical_assessment_record(
                patient=treatment.patient,
                treatment=treatment,
                assessed_on=dt.date(2010, 1, 9),
                **{**BASELINE, field: value},
            )
        assert field in caught.value.message_dict
        assert ClinicalAssessment.objects.count() == 0

    def test_missing_values_stay_missing(self):
        treatment = TreatmentFactory()
        assessment = clinical_assessment_record(
            patient=treatment.patient,
            treatment=treatment,
            assessed_on=dt.date(2010, 1, 9),
            **{**BASELINE, "pt_percent": None},
        )
        assessment.refresh_from_db()
        assert assessment.pt_percent is None
        assert assessment.child_pugh_score is None  # cannot be derived without PT

    def test_child_pugh_is_derived_and_a_disagreeing_record_is_flagged(self):
        treatment = TreatmentFactory()
        assessment = clinical_assessment_record(
            patient=treatment.patient,
            treatment=treatment,
            assessed_on=dt.date(2010, 1, 9),
            child_pugh_score_recorded=8,
            **BASELINE,
        )
        assert (assessment.child_pugh_score, assessment.child_pugh_grade) == (5, "A")
        assert assessment.child_pugh_disagrees is True
        assert assessment.child_pugh_score_recorded == 8  # kept, not overwritten


class TestChildPughPoints:
    @pytest.mark.parametrize(
        ("measures", "score", "grade"),
        [
            ((1.0, 3.6, 80, "none", "none"), 5, "A"),
            (
                (2.0, 3.5, 70, "none", "none"),
                8,
                "B",
            ),  # bilirubin 2 -> 2, albumin 3.5 -> 2, PT 70 -> 2
            ((1.9, 2.8, 40, "slight", "none"), 8, "B"),  # 1 + 2 + 2 + 2 + 1
            ((3.1, 2.7, 39, "moderate", "grade_3_4"), 15, "C"),
            ((2.5, 3.0, 60, "slight", "grade_1_2"), 10, "C"),
        ],
    )
    def test_points_by_hand(self, measures, score, grade):
        bil, alb, pt, ascites, enceph = measures
        result = child_pugh(
            total_bilirubin_mg_dl=bil,
            albumin_g_dl=alb,
            pt_percent=pt,
            ascites=ascites,
            encephalopathy=enceph,
        )
        assert (result.score, result.grade) == (score, grade)

    def test_missing_measure_gives_none(self):
        assert (
            child_pugh(
                total_bilirubin_mg_dl=None,
                albumin_g_dl=3,
                pt_percent=80,
                ascites="none",
                encephalopathy="none",
            )
            is None
        )


@pytest.mark.django_db
class TestDrawTiming:
    def test_post_draw_before_its_tace_is_refused(self):
        treatment = TreatmentFactory()
        with pytest.raises(ValidationError) as caught:
            serum_draw_register(
                treatment=treatment,
                timepoint="POST",
                drawn_at=at(treatment.performed_on - dt.timedelta(days=1)),
                serum_volume_ul=1000,
            )
        assert "drawn_at" in caught.value.message_dict
        assert not SerumDraw.objects.exists()

    def test_post_draw_outside_the_window_is_flagged_not_refused(self):
        treatment = TreatmentFactory()
        draw = serum_draw_register(
            treatment=treatment,
            timepoint="POST",
            drawn_at=at(treatment.performed_on + dt.timedelta(days=12)),
            serum_volume_ul=1000,
        )
        assert draw.days_after_treatment == 12 and draw.outside_window

    @pytest.mark.parametrize("days", [5, 7, 10])
    def test_post_draw_inside_the_window(self, days):
        treatment = TreatmentFactory()
        draw = serum_draw_register(
            treatment=treatment,
            timepoint="POST",
            drawn_at=at(treatment.performed_on + dt.timedelta(days=days)),
            serum_volume_ul=1000,
        )
        assert not draw.outside_window

    def test_one_draw_per_treatment_and_timepoint(self):
        draw = SerumDrawFactory()
        with pytest.raises(ValidationError) as caught:
            serum_draw_register(
                treatment=draw.treatment,
                timepoint="PRE",
                drawn_at=draw.drawn_at,
                serum_volume_ul=500,
            )
        assert "timepoint" in caught.value.message_dict

    def test_correcting_the_date_recomputes_the_flag(self):
        treatment = TreatmentFactory()
        draw = serum_draw_register(
            treatment=treatment,
            timepoint="POST",
            drawn_at=at(treatment.performed_on + dt.timedelta(days=7)),
            serum_volume_ul=1000,
        )
        draw = serum_draw_update(
            draw=draw, drawn_at=at(treatment.performed_on + dt.timedelta(days=3))
        )
        assert draw.outside_window and draw.days_after_treatment == 3

    def test_sprec_code_from_the_times(self):
        draw = SerumDrawFactory(
            centrifugation_g=1500, centrifugation_minutes=10, centrifugation_temperature_c=20
        )
        # 1 h to centrifugation at room temperature (A), RT 10 min <3000 g braked (A),
        # no second spin (N), 30 min to freezing (A), -80 °C (A).
        assert draw.sprec_code == "SER-SST-A-A-N-A-A"


@pytest.mark.django_db
class TestPatientsAndFollowUp:
    def test_withdrawal_keeps_the_patient_and_marks_it(self):
        patient = PatientFactory()
        patient_withdraw(patient=patient, withdrawn_on=dt.date(2011, 1, 1), reason="asked to leave")
        patient.refresh_from_db()
        assert patient.is_withdrawn and "withdrawn" in str(patient)
        assert patient.__class__.objects.active().count() == 0

    def test_second_initial_treatment_is_refused(self):
        treatment = TreatmentFactory()
        with pytest.raises(ValidationError) as caught:
            treatment_create(
                patient=treatment.patient,
                performed_on=dt.date(2011, 1, 1),
                anticancer_agent="epirubicin",
                is_initial=True,
            )
        assert "is_initial" in caught.value.message_dict

    def test_death_needs_a_cause_and_nothing_follows_it(self):
        treatment = TreatmentFactory()
        patient = treatment.patient
        with pytest.raises(ValidationError) as caught:
            follow_up_record(patient=patient, contact_date=dt.date(2012, 1, 1), status="dead")
        assert "cause_of_death" in caught.value.message_dict
        follow_up_record(
            patient=patient, contact_date=dt.date(2012, 1, 1), status="dead", cause_of_death="hcc"
        )
        with pytest.raises(ValidationError) as caught:
            follow_up_record(patient=patient, contact_date=dt.date(2012, 6, 1), status="alive")
        assert "contact_date" in caught.value.message_dict

    def test_follow_up_before_the_tace_is_refused(self):
        treatment = TreatmentFactory()
        with pytest.raises(ValidationError) as caught:
            follow_up_record(
                patient=treatment.patient, contact_date=dt.date(2009, 1, 1), status="alive"
            )
        assert "contact_date" in caught.value.message_dict
