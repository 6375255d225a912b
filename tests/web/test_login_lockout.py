"""Brute force: after LOGIN_FAILURE_LIMIT failed sign-ins for one user name from one
address (django-axes), the right password is refused too, on /login/, /admin/login/
and the API token exchange, until the cool-off has passed or someone unlocks it."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

PASSWORD = "vial-rack-Freezer-42"
LIMIT = 5  # LOGIN_FAILURE_LIMIT's default
COOLOFF = dt.timedelta(minutes=15)  # LOGIN_COOLOFF_MINUTES's default
LOCKED_TEXT = "Too many failed sign-ins for this user name from this computer"


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("bench1", password=PASSWORD, is_staff=True)


def attempt(client, url, password, **extra):
    return client.post(url, {"username": "bench1", "password": password}, **extra)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_defaults():
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    assert settings.AXES_COOLOFF_TIME == COOLOFF
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_six_wrong_passwords_lock_out_the_right_one_until_reset(user, url_name):
    client, url = Client(), reverse(url_name)
    statuses = [attempt(client, url, f"wrong-{i}").status_code for i in range(6)]
    # Failures 1-4 show the form again; the 5th reaches the limit: locked from there on.
    assert statuses == [200] * (LIMIT - 1) + [429] * (6 - LIMIT + 1)

    refused = attempt(client, url, PASSWORD)
    assert refused.status_code == 429 and not signed_in(client)
    page = refused.content.decode()
    assert LOCKED_TEXT in page and "blocked for 15 minutes" in page
    assert int(refused["Retry-After"]) == COOLOFF.total_seconds()

    call_command("axes_reset_username", "bench1", stdout=io.StringIO())
    assert attempt(client, url, PASSWORD).status_code == 302 and signed_in(client)


def test_the_lock_lifts_after_the_cool_off(user):
    client, url = Client(), reverse("login")
    for i in range(6):
        attempt(client, url, f"wrong-{i}")
    assert attempt(client, url, PASSWORD).status_code == 429

    # Move the failures back in time: just inside the cool-off, still locked ...
    attempts = AccessAttempt.objects.filter(username="bench1")
    attempts.update(attempt_time=timezone.now() - COOLOFF + dt.timedelta(minutes=1))
    assert attempt(client, url, PASSWORD).status_code == 429
    # ... just past it, the right password signs in.
    attempts.update(attempt_time=timezone.now() - COOLOFF - dt.timedelta(minutes=1))
    assert attempt(client, url, PASSWORD).status_code == 302 and signed_in(client)


def test_the_lock_is_per_user_name_and_address(user):
    client, url = Client(), reverse("login")
    for i in range(6):
        attempt(client, url, f"wrong-{i}", REMOTE_ADDR="198.51.100.7")
    assert attempt(client, url, PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 429
    # A forged X-Forwarded-For from the same socket address is still that address ...
    forged = attempt(
        client, url, PASSWORD, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.1"
    )
    assert forged.status_code == 429
    # ... while the same user at another computer signs in.
    assert attempt(client, url, PASSWORD, REMOTE_ADDR="198.51.100.8").status_code == 302


def test_a_success_resets_the_count(user):
    client, url = Client(), reverse("login")
    for i in range(LIMIT - 1):
        attempt(client, url, f"wrong-{i}")
    assert attempt(client, url, PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for i in range(LIMIT - 1):
        assert attempt(client, url, f"again-{i}").status_code == 200
    assert attempt(client, url, PASSWORD).status_code == 302


def test_the_api_token_exchange_is_locked_too(user):
    client, url = Client(), reverse("api:token")
    statuses = [attempt(client, url, f"wrong-{i}").status_code for i in range(6)]
    assert statuses == [400] * (LIMIT - 1) + [429] * (6 - LIMIT + 1)
    refused = attempt(client, url, PASSWORD)
    assert refused.status_code == 429 and refused["Content-Type"] == "application/json"
    assert LOCKED_TEXT in refused.json()["detail"] and "token" not in refused.json()

    call_command("axes_reset_username", "bench1", stdout=io.StringIO())
    assert "token" in attempt(client, url, PASSWORD).json()
