"""Session writes need the CSRF token; the token endpoint is rate-limited; the schema
and docs are for signed-in users."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def thaw_url(world):
    return reverse("api:aliquot-thaw", args=[world["aliquot"].pk])


def test_a_session_write_without_the_csrf_token_is_refused(technician, world):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(technician)
    response = browser.post(thaw_url(world), {"reason": "x"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]

    browser.get(reverse("login"))  # the page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(thaw_url(world), {"reason": "x"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_a_session_read_needs_no_csrf_token(technician, world):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(technician)
    assert browser.get(reverse("api:aliquot-list")).status_code == 200


def test_token_writes_need_no_csrf_token(clients, world):
    client = clients["technician"]
    client.handler.enforce_csrf_checks = True
    assert client.post(thaw_url(world), {"reason": "x"}, format="json").status_code == 200


def test_the_token_exchange(technician):
    api = APIClient()
    response = api.post(reverse("api:token"), {"username": "tech", "password": "pw"})
    assert response.status_code == 200
    assert response.json()["token"] == Token.objects.get(user=technician).key
    wrong = api.post(reverse("api:token"), {"username": "tech", "password": "nope"})
    assert wrong.status_code == 400 and "non_field_errors" in wrong.json()


def test_the_token_endpoint_is_rate_limited(technician):
    """Per address, whatever the user names: one guess each at many user names (which the
    per-user lockout, tests/web/test_login_lockout.py, never sees twice) is stopped too."""
    api = APIClient()
    answers = [
        api.post(reverse("api:token"), {"username": f"user-{i}", "password": "x"}).status_code
        for i in range(12)
    ]
    assert answers[:10] == [400] * 10
    assert answers[10:] == [429, 429]
    limited = api.post(reverse("api:token"), {"username": "tech", "password": "pw"})
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert "detail" in limited.json()


def test_a_forged_forwarded_for_header_does_not_escape_the_limit(technician):
    api = APIClient()
    answers = [
        api.post(
            reverse("api:token"),
            {"username": f"user-{i}", "password": "x"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(11)
    ]
    assert answers[-1] == 429


def test_the_rate_limit_covers_only_the_token_endpoint(clients, world):
    answers = {
        clients["technician"].get(reverse("api:aliquot-list")).status_code for _ in range(15)
    }
    assert answers == {200}


def test_schema_and_docs_are_for_signed_in_users(clients):
    for name in ("api:schema", "api:docs"):
        assert clients["anonymous"].get(reverse(name)).status_code in (401, 403)
        assert clients["analyst"].get(reverse(name)).status_code == 200
