"""The OpenAPI schema says what the API answers, errors included.

The Idempotency-Key header, and its 422, on the operations that take it (the
handlers marked by biobank.api.idempotency.idempotent).

tests/api/test_fuzz.py checks every generated response against it (schemathesis'
status-code, content-type and response-schema conformance), so a client generated
from the schema can rely on it:

- Every operation documents the errors the API's common machinery can give, each a
  JSON body (biobank/api/exceptions.py): 400 (a field error, or a filter or page
  size the list cannot read), 401 (no or a bad token), 403 (the role may not),
  404 (no such record, or a page past the end), 409 on writes (a duplicate saved
  meanwhile), 429 where a throttle applies.
- Only a list (GET on a collection) is paginated: an action that answers a plain
  array (a plate's imports, the wells a layout made) is described as one.
- A read-only choice the model allows blank lists "" among its values.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from .idempotency import HEADER, MAX_KEY_LENGTH, KeyReused

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        f"Up to {MAX_KEY_LENGTH} printable characters, e.g. a UUID, new for each write. "
        "Sent again with the same request (after a lost answer, a timeout, a 503), it "
        "returns the first answer (header `Idempotent-Replayed: true`) without writing "
        "again; sent with another request it is a 422."
    ),
)


ERROR_SCHEMAS = {
    "Error": {
        "type": "object",
        "description": "What went wrong, in `detail`.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "FieldErrors": {
        "type": "object",
        "description": (
            "The field names map to what is wrong with each (`non_field_errors` for the "
            "rest); a field of a list of items maps to one entry per item."
        ),
        "additionalProperties": {},
    },
}

WRITES = {"post", "put", "patch", "delete"}


def _json(name: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _error(description: str, name: str = "Error") -> dict:
    return {"description": description, "content": _json(name)}


class AutoSchema(SpectacularAutoSchema):
    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        handler = getattr(self.view, getattr(self.view, "action", None) or "", None)
        if handler is None:
            handler = getattr(self.view, self.method.lower(), None)
        if getattr(handler, "idempotent", False):
            parameters = [*parameters, IDEMPOTENCY_PARAMETER]
        return parameters

    def _get_paginator(self):
        """Paginate the list action only (GET on a collection)."""
        action = getattr(self.view, "action", None)
        if self.method != "GET" or action not in (None, "list"):
            return None
        return super()._get_paginator()

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        result = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            isinstance(field, serializers.ChoiceField)
            and field.read_only
            and isinstance(result.get("enum"), list)
            and "" not in result["enum"]
            and self._model_field_allows_blank(field)
        ):
            result["enum"] = [*result["enum"], ""]
        return result

    @staticmethod
    def _model_field_allows_blank(field) -> bool:
        """A read-only ModelSerializer field loses allow_blank; the model still says it."""
        meta = getattr(getattr(field, "parent", None), "Meta", None)
        model = getattr(meta, "model", None)
        if model is None or "." in (field.source or ""):
            return False
        try:
            return bool(model._meta.get_field(field.source).blank)
        except FieldDoesNotExist:
            return False


def document_key_reuse(result, generator, request, public):
    """Postprocessing hook: a 422 `{"detail": ...}` on every operation with the header."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            names = {p.get("name") for p in operation.get("parameters", [])}
            if HEADER in names:
                operation.setdefault("responses", {}).setdefault(
                    "422",
                    {
                        "description": str(KeyReused.default_detail),
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"detail": {"type": "string"}},
                                    "required": ["detail"],
                                }
                            }
                        },
                    },
                )
    return result


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: the error answers of every operation (see the module doc)."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in ERROR_SCHEMAS.items():
        components.setdefault(name, schema)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            bad = responses.setdefault("400", {"description": "The request was refused"})
            bad.setdefault("content", _json("FieldErrors"))
            if operation.get("security") != [{}] and {} not in operation.get("security", []):
                responses.setdefault("401", _error("No token, or a bad one"))
            responses.setdefault("403", _error("The role may not do this"))
            responses.setdefault("404", _error("No such record, or no such page"))
            if method in WRITES:
                responses.setdefault(
                    "409", _error("A duplicate saved meanwhile (by field)", "FieldErrors")
                )
            if method in WRITES:
                responses.setdefault(
                    "415", _error("The body's content type, or the body, cannot be read")
                )
            responses.setdefault(
                "503", _error("The database is unavailable; retry (see Retry-After)")
            )
            if path.endswith("/auth/token/"):
                responses.setdefault("429", _error("Too many attempts; wait and retry"))
    return result
