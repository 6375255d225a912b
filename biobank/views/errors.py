"""Django's error views, answering JSON under /api/.

DRF turns what a view raises into JSON (biobank.api.exceptions), but what escapes it
(an exception DRF does not know, a 404 raised before a view runs, a bad Host header)
reaches these handlers: an API client must not get an HTML page it cannot parse, so
under /api/ they answer {"detail": ...}; everywhere else, Django's own pages.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.views import defaults

from biobank.api.exceptions import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS

API_PREFIX = "/api/"


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    if is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception, template_name)


def permission_denied(request, exception, template_name=defaults.ERROR_403_TEMPLATE_NAME):
    if is_api(request):
        return JsonResponse(
            {"detail": "You do not have permission to perform this action."}, status=403
        )
    return defaults.permission_denied(request, exception, template_name)


def page_not_found(request, exception, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    if is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception, template_name)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """Django calls this inside its `except` block, so the exception is at hand: a lost
    database connection is a 503 the client may retry, anything else a 500."""
    if is_api(request):
        if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
            response = JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        return JsonResponse(
            {"detail": "Server error; the administrators have the details."}, status=500
        )
    return defaults.server_error(request, template_name)
