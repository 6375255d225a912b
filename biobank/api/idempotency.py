"""Idempotency-Key for the API's writes: a client that lost a response retries with the
same key and gets the first answer again, without the write being made twice (a take
taken twice, a batch recorded twice).

The first request with a key inserts a row for (user, key) *before* writing, in the
same transaction as the write; the answer is stored in that row before commit. So:

- a committed write always has its stored answer, and a rolled-back one has no row
  (the key may be sent again, e.g. with a corrected body, after a 400);
- a concurrent request with the same key waits on the row's unique index (PostgreSQL)
  or on the write lock (SQLite), then finds the committed answer and replays it;
- the same key with another request (method, path or data) is a 422: a key names
  one request, and guessing which one the client meant could take the wrong volume.

Only 2xx answers are stored: an error wrote nothing, so there is nothing to protect.
Keys belong to their user; the rows are kept (prune with `created_at`).
"""

from __future__ import annotations

import functools
import hashlib
import json

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from biobank.infra.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = (
        "This Idempotency-Key was already used for a different request (another method, "
        "path or body). Send a new key with a new request."
    )


def _canonical(value):
    """The request's data as plain JSON values; an uploaded file by its name and the
    SHA-256 of its bytes (read, then rewound for the view)."""
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "sha256": digest.hexdigest()}
    if hasattr(value, "lists"):  # QueryDict / MultiValueDict: every value of every key
        return {str(k): [_canonical(v) for v in vs] for k, vs in value.lists()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def request_fingerprint(request) -> str:
    """SHA-256 of the method, the path and the parsed data: the same JSON with its keys
    in another order or other spacing is the same request."""
    data = json.dumps(_canonical(request.data), sort_keys=True, default=str)
    text = "\n".join((request.method, request.get_full_path(), data))
    return hashlib.sha256(text.encode()).hexdigest()


def _key(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            {HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} printable characters, e.g. a UUID."]}
        )
    return key


def _claim(*, request, key: str, fingerprint: str) -> tuple[IdempotencyRecord | None, bool]:
    """(row, True) when this request holds the key now; (row, False) when another
    request committed it first. Inside the caller's transaction."""
    try:
        with transaction.atomic():
            return (
                IdempotencyRecord.objects.create(
                    user=request.user,
                    key=key,
                    method=request.method,
                    path=request.get_full_path()[:2000],
                    fingerprint=fingerprint,
                ),
                True,
            )
    except IntegrityError:
        # The insert waited for the holder's transaction, which committed: its answer.
        return IdempotencyRecord.objects.get(user=request.user, key=key), False


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise KeyReused()
    return Response(
        json.loads(record.response_body) if record.response_body else None,
        status=record.status_code,
        headers={REPLAYED_HEADER: "true"},
    )


def idempotent(handler):
    """Decorate a write handler of a DRF view (`create`, `update`, an @action): with an
    Idempotency-Key header, the write and its stored answer commit together, and a
    repeat replays the answer. Without the header, the handler runs as before."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = _key(request)
        if key is None or not request.user.is_authenticated:
            return handler(view, request, *args, **kwargs)
        fingerprint = request_fingerprint(request)
        with transaction.atomic():
            record, holder = _claim(request=request, key=key, fingerprint=fingerprint)
            if not holder:
                return _replay(record, fingerprint)
            response = handler(view, request, *args, **kwargs)
            if not status.is_success(response.status_code):
                transaction.set_rollback(True)  # nothing written: the key stays free
                return response
            record.status_code = response.status_code
            record.response_body = JSONRenderer().render(response.data).decode()
            record.save(update_fields=["status_code", "response_body"])
            return response

    wrapper.idempotent = True
    return wrapper
