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
def _fresh_cache():
    """Throttle counters live in the cache: every test starts with none."""
    cache.clear()
    yield
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
