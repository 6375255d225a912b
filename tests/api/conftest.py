"""API fixtures: a token client per role and one record of every kind."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from .helpers import build_world, client_for


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "fuzz: schemathesis fuzzing of the API schema (runs in the normal suite)"
    )


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Throttle counters live in the cache (a database table unless CACHE_URL names a
    Redis): every test that may use the database starts with none."""
    uses_db = request.node.get_closest_marker("django_db") is not None or {
        "db",
        "transactional_db",
    } & set(request.fixturenames)
    if uses_db:
        cache.clear()
    yield
    if uses_db:
        cache.clear()


@pytest.fixture
def users(technician, curator, analyst):
    return {"anonymous": None, "technician": technician, "curator": curator, "analyst": analyst}


@pytest.fixture
def clients(users):
    return {role: client_for(user) for role, user in users.items()}


@pytest.fixture
def world(curator):
    return build_world(curator)
