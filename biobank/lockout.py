"""Sign-in lockout (django-axes): after AXES_FAILURE_LIMIT failed sign-ins for one
user name from one address, that pair is refused for AXES_COOLOFF_TIME, on the login
page, the admin's and the API token exchange alike.

The counts are rows of the database (axes' AccessAttempt), so every gunicorn worker
sees the same ones. A curator or an administrator unlocks early with
`manage.py axes_reset_username <name>` or by deleting the row under Axes in the admin.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

API_PREFIX = "/api/"


def client_ip(request) -> str | None:
    """The client's address as the API throttles see it (REST_FRAMEWORK NUM_PROXIES):
    X-Forwarded-For is trusted only from the configured number of proxies, so a client
    cannot name itself anew on every attempt and escape the count."""
    return BaseThrottle().get_ident(request)


def cooloff_minutes() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    return (
        f"Too many failed sign-ins for this user name from this computer. Sign-in is "
        f"blocked for {cooloff_minutes()} minutes; an administrator can unlock it sooner."
    )


def lockout_response(
    request: HttpRequest, original_response=None, credentials=None
) -> HttpResponse:
    """429 with Retry-After: JSON under /api/, the login page with the reason elsewhere
    (AXES_LOCKOUT_CALLABLE)."""
    if request.path.startswith(API_PREFIX):
        response = JsonResponse({"detail": lockout_message()}, status=429)
    else:
        response = render(
            request,
            "registration/login.html",
            {"form": AuthenticationForm(request), "lockout": lockout_message()},
            status=429,
        )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
