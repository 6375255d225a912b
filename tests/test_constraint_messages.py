"""A constraint the database enforces is told as its field and a sentence: never the
database's text (PostgreSQL's echoes the row), never the constraint's name. Run on
both backends: CI's PostgreSQL pass is the one the issue is about."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse

from biobank.models import Aliquot, Patient, Rack, SerumDraw
from biobank.services import common
from biobank.services.constraints import MESSAGES, broken_constraint, integrity_error_detail

from .api.helpers import client_for
from .factories import AliquotFactory, PatientFactory, RackFactory, SerumDrawFactory, UserFactory

pytestmark = pytest.mark.django_db

# What the database says that a user must never see.
RAW = ("violates", "constraint", "DETAIL", "Failing row", "UNIQUE", "CHECK", "Key (")


def assert_clean(text: str, *names: str) -> None:
    for word in (*RAW, *names):
        assert word not in text, f"{word!r} in {text!r}"


def raised(write) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        write()
    return caught.value


def test_a_check_constraint_is_its_field_and_rule():
    aliquot = AliquotFactory()
    error = raised(
        lambda: Aliquot.objects.filter(pk=aliquot.pk).update(volume_ul=F("initial_volume_ul") + 1)
    )
    detail, unique = integrity_error_detail(error)
    assert detail == {"volume_ul": [MESSAGES["aliquot_volume_within_initial"][1]]}
    assert not unique
    assert_clean(str(detail), "aliquot_volume_within_initial", aliquot.barcode)


def test_a_named_unique_constraint_is_its_field_and_a_conflict():
    rack = RackFactory()
    error = raised(lambda: Rack.objects.create(freezer=rack.freezer, name=rack.name))
    broken = broken_constraint(error)
    assert (broken.field, broken.unique) == ("name", True)
    assert broken.message == "This freezer already has a rack of that name"


def test_a_unique_field_is_named_without_its_value():
    patient = PatientFactory(study_id="P-SECRET-7")
    error = raised(
        lambda: Patient.objects.create(
            study_id="P-SECRET-7",
            sex="M",
            age_at_enrolment=70,
            liver_background=patient.liver_background,
            etiology=patient.etiology,
            type2_diabetes=False,
            consent_date=dt.date(2010, 1, 1),
        )
    )
    detail, unique = integrity_error_detail(error)
    assert unique and list(detail) == ["study_id"]
    assert "study id" in detail["study_id"][0]
    assert_clean(str(detail), "P-SECRET-7")


def test_save_validated_turns_a_lost_race_into_the_fields_message(monkeypatch):
    """The service's check passed, then the database refused (a race): the user still
    sees the field and the rule."""
    draw = SerumDrawFactory()
    monkeypatch.setattr(common, "full_clean_or_raise", lambda instance, **kw: None)
    draw.frozen_at = draw.centrifuged_at - dt.timedelta(minutes=5)
    with pytest.raises(ValidationError) as caught:
        common.save_validated(draw)
    assert caught.value.message_dict == {"frozen_at": ["Freezing cannot precede centrifugation"]}
    assert_clean(str(caught.value), "draw_frozen_after_centrifuged")


def test_full_cleans_constraint_message_is_moved_to_its_field():
    """Django's own "Constraint “name” is violated." names the constraint."""
    aliquot = AliquotFactory()
    aliquot.volume_ul = aliquot.initial_volume_ul + Decimal("1")
    with pytest.raises(ValidationError) as caught:
        common.full_clean_or_raise(aliquot)
    errors = caught.value.message_dict
    assert errors.get("volume_ul") == [MESSAGES["aliquot_volume_within_initial"][1]], errors
    assert "__all__" not in errors
    assert_clean(str(errors), "aliquot_volume_within_initial")


def test_an_unknown_constraint_is_a_generic_conflict():
    detail, unique = integrity_error_detail(IntegrityError("CHECK constraint failed: nope_x"))
    assert unique and list(detail) == ["__all__"]
    assert_clean(str(detail), "nope_x")


class TestApi:
    """An IntegrityError from the database inside an API write (a race the service
    lost) is a JSON body with the field and rule."""

    @pytest.fixture
    def technician(self, db):
        return client_for(UserFactory(username="tech", groups=["technician"]))

    def test_a_refused_value_is_a_400_on_its_field(self, technician, monkeypatch):
        aliquot = AliquotFactory()

        def thaw(*, aliquot, **kwargs):
            Aliquot.objects.filter(pk=aliquot.pk).update(volume_ul=F("initial_volume_ul") + 1)

        monkeypatch.setattr("biobank.services.aliquots.aliquot_thaw", thaw)
        response = technician.post(
            reverse("api:aliquot-thaw", args=[aliquot.pk]), {"reason": "x"}, format="json"
        )
        assert response.status_code == 400, response.content
        assert response.json() == {"volume_ul": [MESSAGES["aliquot_volume_within_initial"][1]]}
        assert_clean(response.content.decode(), "aliquot_volume_within_initial", aliquot.barcode)

    def test_a_duplicate_is_a_409_on_its_field(self, technician, monkeypatch):
        draw = SerumDrawFactory()
        aliquot = AliquotFactory(draw=draw)

        def thaw(**kwargs):
            SerumDraw.objects.create(
                treatment=draw.treatment,
                patient=draw.patient,
                timepoint=draw.timepoint,
                drawn_at=draw.drawn_at,
                serum_volume_ul=Decimal("10"),
                days_after_treatment=0,
            )

        monkeypatch.setattr("biobank.services.aliquots.aliquot_thaw", thaw)
        response = technician.post(
            reverse("api:aliquot-thaw", args=[aliquot.pk]), {"reason": "x"}, format="json"
        )
        assert response.status_code == 409, response.content
        assert response.json() == {"timepoint": [MESSAGES["one_draw_per_timepoint"][1]]}
        assert_clean(response.content.decode(), "one_draw_per_timepoint")
