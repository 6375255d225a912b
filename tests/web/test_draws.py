"""Registering a serum draw: the services' rules shown beside the fields, nothing half saved."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from biobank.models import SerumDraw
from biobank.services.draws import serum_draw_register, serum_draw_update

from ..factories import PatientFactory, SerumDrawFactory, TreatmentFactory
from .conftest import field_errors, messages_of

pytestmark = pytest.mark.django_db

URL = reverse("web:draw_register")


def post_data(for_treatment, **overrides):
    data = {
        "treatment": for_treatment.pk,
        "timepoint": "PRE",
        "drawn_at": "2010-01-10T08:00",
        "centrifuged_at": "2010-01-10T09:00",
        "frozen_at": "2010-01-10T09:40",
        "serum_volume_ul": "1200",
        "haemolysis": "none",
        "container": "SST",
    }
    return {**data, **overrides}


def test_the_form_offers_consenting_patients_and_focuses_the_first_field(tech_client, treatment):
    withdrawn = PatientFactory(
        study_id="P-GONE", withdrawn_on=dt.date(2011, 1, 1), withdrawal_reason="asked"
    )
    TreatmentFactory(patient=withdrawn)
    page = tech_client.get(URL)
    html = page.content.decode()
    assert page.status_code == 200
    assert "P-001 · TACE 2010-01-10" in html and "P-GONE" not in html
    assert re.search(r'<select name="treatment"[^>]*autofocus', html)


def test_a_pre_draw_is_registered_and_the_aliquot_page_follows(tech_client, treatment):
    response = tech_client.post(URL, post_data(treatment))
    draw = SerumDraw.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("web:draw_aliquot", args=[draw.pk])
    assert draw.timepoint == "PRE" and draw.serum_volume_ul == 1200 and not draw.outside_window


def test_a_post_draw_outside_the_window_is_saved_with_its_warning(tech_client, treatment):
    response = tech_client.post(
        URL,
        post_data(
            treatment,
            timepoint="POST",
            drawn_at="2010-01-22T08:00",
            centrifuged_at="",
            frozen_at="",
        ),
        follow=True,
    )
    draw = SerumDraw.objects.get()
    assert draw.outside_window and draw.days_after_treatment == 12
    warnings = [m for m in messages_of(response) if "outside the 5-10 day window" in m]
    assert warnings and "12 days after" in warnings[0]
    assert "Outside the POST draw window" in response.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"timepoint": "POST", "drawn_at": "2010-01-09T08:00"},
            "drawn_at",
            "must be after the TACE",
        ),
        (
            {"drawn_at": "2010-01-12T08:00", "centrifuged_at": "", "frozen_at": ""},
            "drawn_at",
            "on or before the TACE",
        ),
        (
            {"centrifuged_at": "2010-01-10T07:00", "frozen_at": ""},
            "centrifuged_at",
            "cannot precede the draw",
        ),
        ({"frozen_at": "2010-01-10T08:30"}, "frozen_at", "cannot precede centrifugation"),
        ({"serum_volume_ul": ""}, "serum_volume_ul", "required"),
        ({"drawn_at": "yesterday"}, "drawn_at", "valid date/time"),
        ({"treatment": ""}, "treatment", "required"),
        ({"a414": "-0.2"}, "a414", "greater than or equal to 0"),
    ],
    ids=[
        "post-before-tace",
        "pre-after-tace",
        "centrifuged-early",
        "frozen-early",
        "no-volume",
        "bad-date",
        "no-treatment",
        "negative-a414",
    ],
)
def test_refusals_show_beside_their_field_and_save_nothing(
    tech_client, treatment, overrides, field, message
):
    response = tech_client.post(URL, post_data(treatment, **overrides))
    assert response.status_code == 200
    assert any(message in error for error in field_errors(response, field)), field_errors(
        response, field
    )
    assert "has-error" in response.content.decode()
    assert not SerumDraw.objects.exists()


def test_an_a414_is_saved_with_the_draw(tech_client, treatment):
    tech_client.post(URL, post_data(treatment, a414="0.27"))
    assert SerumDraw.objects.get().a414 == 0.27


def test_the_service_refuses_a_negative_a414_naming_the_field(treatment):
    with pytest.raises(ValidationError) as refused:
        serum_draw_register(
            treatment=treatment,
            timepoint="PRE",
            drawn_at=dt.datetime(2010, 1, 10, 8, tzinfo=dt.UTC),
            serum_volume_ul=1000,
            a414=-0.1,
        )
    assert "cannot be negative" in refused.value.message_dict["a414"][0]
    assert not SerumDraw.objects.exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.3", True])
def test_the_service_refuses_an_a414_that_is_not_a_finite_number(treatment, value):
    draw = SerumDrawFactory(treatment=treatment)
    with pytest.raises(ValidationError) as refused:
        serum_draw_update(draw=draw, a414=value)
    assert "finite number" in refused.value.message_dict["a414"][0]
    draw.refresh_from_db()
    assert draw.a414 is None


def test_the_database_refuses_a_negative_a414(treatment):
    draw = SerumDrawFactory(treatment=treatment)
    with pytest.raises(IntegrityError), transaction.atomic():
        SerumDraw.objects.filter(pk=draw.pk).update(a414=-1.0)


def test_a_second_draw_for_the_same_timepoint_is_refused_on_the_timepoint(tech_client, treatment):
    SerumDrawFactory(treatment=treatment)
    response = tech_client.post(URL, post_data(treatment))
    assert "already has a PRE draw" in field_errors(response, "timepoint")[0]
    assert SerumDraw.objects.count() == 1


def test_who_may_register(client, analyst_client, treatment):
    assert client.get(URL)["Location"].startswith(reverse("login"))
    assert analyst_client.get(URL).status_code == 403
    assert analyst_client.post(URL, post_data(treatment)).status_code == 403
    assert not SerumDraw.objects.exists()


def test_a_draw_time_in_the_future_is_refused_beside_its_field(tech_client, treatment):
    from django.utils import timezone

    tomorrow = timezone.localtime() + dt.timedelta(days=1)
    stamp = f"{tomorrow:%Y-%m-%dT%H:%M}"
    response = tech_client.post(
        URL,
        post_data(treatment, timepoint="POST", drawn_at=stamp, centrifuged_at="", frozen_at=""),
    )
    assert response.status_code == 200
    errors = field_errors(response, "drawn_at")
    assert any("cannot be in the future" in error for error in errors), errors
    assert not SerumDraw.objects.exists()
