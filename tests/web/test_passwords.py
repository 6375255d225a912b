"""Django's full password validators: 'password' and its like are refused wherever a
password is chosen (admin, createsuperuser); the demo users still sign in."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from biobank.demo.loader import DEMO_PASSWORD, ensure_demo_users

pytestmark = pytest.mark.django_db

STRONG = "vial-rack-Freezer-42"


def refusals(password: str, user=None) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as error:
        return error.messages
    return []


def test_password_is_refused_as_too_short_and_too_common():
    messages = refusals("password")
    assert any("too short" in m and "10 characters" in m for m in messages), messages
    assert any("too common" in m for m in messages), messages


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("123456789012", "entirely numeric"),
        ("qwertyuiop", "too common"),  # 10 characters, on the common list
        ("Short-1", "too short"),
    ],
)
def test_each_validator_is_on(password, why):
    assert any(why in m for m in refusals(password)), refusals(password)


def test_a_password_like_the_username_is_refused():
    user = get_user_model()(username="margaretha.vandenberg", email="m@lab.invalid")
    assert any("too similar" in m for m in refusals("margaretha.vandenberg1", user))


def test_a_strong_password_and_the_demo_password_pass():
    assert refusals(STRONG) == []
    assert refusals(DEMO_PASSWORD, get_user_model()(username="curator")) == []


def test_the_admin_refuses_a_weak_password_for_a_new_user():
    boss = get_user_model().objects.create_superuser("boss", "boss@lab.invalid", STRONG)
    client = Client()
    client.force_login(boss)
    url = reverse("admin:auth_user_add")
    weak = {
        "username": "newtech",
        "password1": "password",
        "password2": "password",
        "usable_password": "true",
    }
    response = client.post(url, weak)
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    assert not get_user_model().objects.filter(username="newtech").exists()

    strong = {**weak, "password1": STRONG, "password2": STRONG}
    assert client.post(url, strong).status_code == 302
    assert get_user_model().objects.get(username="newtech").check_password(STRONG)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_createsuperuser_refuses_a_weak_password(monkeypatch):
    """Interactive createsuperuser: 'password' is refused (bypass declined), then the
    strong one is taken."""
    from django.contrib.auth.management.commands import createsuperuser

    typed = iter(["password", "password", STRONG, STRONG])
    monkeypatch.setattr(createsuperuser.getpass, "getpass", lambda prompt="": next(typed))
    monkeypatch.setattr("builtins.input", lambda prompt="": "n")
    errors = io.StringIO()
    call_command(
        "createsuperuser",
        username="root1",
        email="root@lab.invalid",
        interactive=True,
        stdin=Terminal(),
        stdout=io.StringIO(),
        stderr=errors,
    )
    assert "too common" in errors.getvalue()
    assert get_user_model().objects.get(username="root1").check_password(STRONG)


def test_the_demo_users_still_sign_in():
    ensure_demo_users()
    client = Client()
    response = client.post(reverse("login"), {"username": "technician", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("home")).wsgi_request.user.username == "technician"
