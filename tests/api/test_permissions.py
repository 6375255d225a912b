"""The permission matrix: every route x every role x every method.

The routes come from the router's registry (tests/api/helpers.all_routes), and the
expected access is written out here by hand, so a new endpoint, action or method
fails `test_every_route_has_an_expected_access` until someone decides who may use it.

Expected answers:
- anonymous: 401, whatever the route and method;
- a role that may not read the route: 403, whatever the method;
- a method the route does not serve: 405;
- a write the role may not make: 403;
- otherwise the request is served: 2xx, or 400 for the empty body these tests send.
"""

from __future__ import annotations

import pytest

from .helpers import METHODS, ROLES, all_routes

pytestmark = pytest.mark.django_db

T, C, A = "technician", "curator", "analyst"
TC = frozenset({T, C})
TCA = frozenset({T, C, A})
CO = frozenset({C})

# route key -> (roles that may read it, {write method: roles that may use it})
EXPECTED: dict[str, tuple[frozenset, dict[str, frozenset]]] = {
    "patient:list": (TC, {"POST": CO}),
    "patient:detail": (TC, {}),
    "patient:withdraw": (TC, {"POST": CO}),
    "patient-identity:list": (CO, {}),
    "patient-identity:detail": (CO, {}),
    "clinical-assessment:list": (TC, {"POST": CO}),
    "clinical-assessment:detail": (TC, {"PUT": CO, "PATCH": CO}),
    "treatment:list": (TC, {"POST": CO}),
    "treatment:detail": (TC, {}),
    "draw:list": (TC, {"POST": TC}),
    "draw:detail": (TC, {"PUT": TC, "PATCH": TC}),
    "aliquot:list": (TC, {"POST": TC}),
    "aliquot:detail": (TC, {}),
    "aliquot:check-out": (TC, {"POST": TC}),
    "aliquot:check-in": (TC, {"POST": TC}),
    "aliquot:move": (TC, {"POST": TC}),
    "aliquot:thaw": (TC, {"POST": TC}),
    "aliquot:consume": (TC, {"POST": TC}),
    "aliquot:discard": (TC, {"POST": TC}),
    "storage-event:list": (TC, {}),
    "storage-event:detail": (TC, {}),
    "freezer:list": (TC, {}),
    "freezer:detail": (TC, {}),
    "rack:list": (TC, {}),
    "rack:detail": (TC, {}),
    "box:list": (TC, {"POST": TC}),
    "box:detail": (TC, {}),
    "extraction-batch:list": (TC, {"POST": TC}),
    "extraction-batch:detail": (TC, {}),
    "extraction-batch:isolate-rna": (TC, {"POST": TC}),
    "reverse-transcription:list": (TC, {"POST": TC}),
    "reverse-transcription:detail": (TC, {}),
    "assay:list": (TC, {}),
    "assay:detail": (TC, {}),
    "plate:list": (TC, {"POST": TC}),
    "plate:detail": (TC, {}),
    "plate:layout": (TC, {"POST": TC}),
    "plate:import-preview": (TC, {"POST": TC}),
    "plate:import": (TC, {"POST": TC}),
    "plate:imports": (TC, {}),
    "plate:import-revert": (TC, {"POST": TC}),
    "plate:rdml": (TC, {}),
    "plate:study-rdml": (TC, {}),
    "well:list": (TC, {}),
    "well:detail": (TC, {}),
    "well:exclude": (TC, {"POST": TC}),
    "well:restore": (TC, {"POST": TC}),
    "well:clear-decision": (TC, {"POST": TC}),
    "follow-up:list": (TC, {"POST": CO}),
    "follow-up:detail": (TC, {"PUT": CO, "PATCH": CO}),
    "analysis-plan:list": (TCA, {}),
    "analysis-plan:detail": (TCA, {}),
    "analysis-plan:rerun": (TCA, {"POST": CO}),
    "analysis-run:list": (TCA, {}),
    "analysis-run:detail": (TCA, {}),
    "export-cohort-csv": (TCA, {}),
    "export-cohort-json": (TCA, {}),
}
# Public on purpose, and tested apart (tests/api/test_security.py): the token exchange.
PUBLIC = {"token"}

ROUTES = [route for route in all_routes() if route.key not in PUBLIC]


def expected_status(route, role: str, method: str) -> str:
    readers, writers = EXPECTED[route.key]
    if role == "anonymous":
        return "401"
    if role not in readers:
        return "403"
    if method not in route.methods:
        return "405"
    if method == "GET":
        return "ok"
    return "ok" if role in writers.get(method, frozenset()) else "403"


def classify(status_code: int) -> str:
    if status_code >= 500:
        return f"server error {status_code}"
    if status_code in (401, 403, 405):
        return str(status_code)
    if status_code == 404:
        return "404"
    return "ok"  # 2xx, or 400/409 for a served request with a bad body


def test_every_route_has_an_expected_access():
    keys = {route.key for route in all_routes()}
    assert keys - set(EXPECTED) - PUBLIC == set(), "decide who may use the new routes"
    assert set(EXPECTED) - keys == set(), "routes listed here that the API no longer has"


def test_written_methods_are_served():
    """A write granted in EXPECTED is a method the route really serves."""
    by_key = {route.key: route for route in ROUTES}
    for key, (_readers, writers) in EXPECTED.items():
        assert set(writers) <= by_key[key].methods, key


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.key)
def test_permission_matrix(route, clients, world):
    url = route.url(world)
    wrong = []
    for role in ROLES:
        for method in METHODS:
            response = getattr(clients[role], method.lower())(url, {}, format="json")
            got, want = classify(response.status_code), expected_status(route, role, method)
            if got != want:
                wrong.append(f"{role} {method} {url}: got {response.status_code}, want {want}")
            if response.status_code >= 400:
                assert response["Content-Type"].startswith("application/json"), (
                    f"{role} {method} {url}: error is not JSON"
                )
    assert not wrong, "\n".join(wrong)
