"""Fuzzing against the OpenAPI schema (schemathesis): for every operation, generated
valid and invalid requests (bodies, queries, path ids, multipart uploads), sent as a
curator (the role every write is open to), must never get a 5xx, and every answer must
be what the schema says: a documented status code, a documented content type (JSON
errors included) and a body that validates against the schema of its status.

Bounded to a few hundred requests an operation in total so it runs in the normal
suite, on SQLite and on PostgreSQL (the CI's two passes), in a couple of minutes.
Raise FUZZ_EXAMPLES to dig deeper (`FUZZ_EXAMPLES=200 pytest -m fuzz`).
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
# The answer matches the schema: the check costs no extra request.
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


class InProcessApp:
    """The project's WSGI application on the test's own database connection: like
    django.test.Client, it keeps the request signals from closing the connection
    (which would end the test's transaction)."""

    def __init__(self):
        self.handler = WSGIHandler()

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


def load_schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    raw = json.loads(OpenApiJsonRenderer().render(document, renderer_context={}))
    loaded = schemathesis.openapi.from_dict(raw)
    loaded.app = InProcessApp()
    return loaded


schema = load_schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(
    case, world, curator
):
    token, _ = Token.objects.get_or_create(user=curator)
    response = case.call(headers={"Authorization": f"Token {token.key}"})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}\n"
        f"query={case.query!r} body={case.body!r}\n{response.text[:2000]}"
    )
    case.validate_response(response, checks=CONFORMANCE)
