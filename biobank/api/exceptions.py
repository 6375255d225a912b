"""Every error the API returns is JSON, and a client's fault is a 4xx, never a 500.

The services raise django.core.exceptions.ValidationError keyed by field name;
here it becomes a 400 with the same keys (`non_field_errors` for the rest), so a
client sees exactly which field is wrong, as the web forms do.

A constraint that only the database caught (a race lost between a service's check
and its write) becomes its field and rule (biobank/services/constraints.py): a 409
for a duplicate, a 400 for a refused value, never the database's message, which
names the constraint and could echo values from the row.

A database that cannot be reached, or a connection dropped under the request, is a
503 with Retry-After: the client may retry (with the same Idempotency-Key, a write
that did commit before the connection dropped is not made twice). Errors outside DRF
(a 404 or a 500 that escapes a view) are answered in JSON under /api/ by
biobank.views.errors.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from biobank.services.constraints import integrity_error_detail

logger = logging.getLogger(__name__)

NON_FIELD = "__all__"

DATABASE_UNAVAILABLE = "The database is unavailable; retry (with the same Idempotency-Key)"
RETRY_AFTER_SECONDS = 5


def validation_detail(error: DjangoValidationError) -> dict[str, list[str]]:
    """{field: [messages]} from a Django ValidationError, field-keyed or not."""
    key = api_settings.NON_FIELD_ERRORS_KEY
    if hasattr(error, "error_dict"):
        return {
            (key if field == NON_FIELD else field): [str(message) for message in messages]
            for field, messages in error.message_dict.items()
        }
    return {key: [str(message) for message in error.messages]}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(validation_detail(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, IntegrityError):
        logger.warning("API write refused by a database constraint: %s", exc)
        set_rollback()
        detail, unique = integrity_error_detail(exc)
        # A duplicate is a conflict with another row (409); a value the rules refuse,
        # a client's error (400). Either way the field and the rule, never the
        # database's text (it names the constraint and echoes the row).
        return Response(
            {
                (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD else field): messages
                for field, messages in detail.items()
            },
            status=status.HTTP_409_CONFLICT if unique else status.HTTP_400_BAD_REQUEST,
        )
    elif isinstance(exc, DataError):
        logger.warning("API input refused by the database: %s", exc)
        set_rollback()
        return Response(
            {api_settings.NON_FIELD_ERRORS_KEY: ["A value is out of the range the database holds"]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    elif isinstance(exc, OperationalError | InterfaceError):
        logger.error("API request failed on the database connection: %s", exc)
        set_rollback()
        return database_unavailable_response()
    return drf_exception_handler(exc, context)


def database_unavailable_response() -> Response:
    """503 + Retry-After: whether the write committed is unknown to the client, so it
    must be safe to retry; the body never carries the driver's message."""
    return Response(
        {"detail": DATABASE_UNAVAILABLE},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
