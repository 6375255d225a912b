"""OpenAPI: the Idempotency-Key header, and its 422, on the operations that take it
(the handlers marked by biobank.api.idempotency.idempotent)."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

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


class AutoSchema(SpectacularAutoSchema):
    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        handler = getattr(self.view, getattr(self.view, "action", None) or "", None)
        if handler is None:
            handler = getattr(self.view, self.method.lower(), None)
        if getattr(handler, "idempotent", False):
            parameters = [*parameters, IDEMPOTENCY_PARAMETER]
        return parameters


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
