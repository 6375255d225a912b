"""Shared fixtures. The database is whatever DATABASE_URL names (SQLite by default,
PostgreSQL in the second CI pass); tests that need PostgreSQL mark themselves."""

from __future__ import annotations

import pytest
from django.db import connection

from biobank.roles import ANALYST, CURATOR, TECHNICIAN

from .factories import UserFactory


def pytest_collection_modifyitems(config, items):
    """Skip `postgres`-marked tests, with the reason, when the suite runs on SQLite."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def technician(db):
    return UserFactory(username="tech", groups=[TECHNICIAN], is_staff=True)


@pytest.fixture
def curator(db):
    return UserFactory(username="cura", groups=[CURATOR], is_staff=True)


@pytest.fixture
def analyst(db):
    return UserFactory(username="ana", groups=[ANALYST])


@pytest.fixture(autouse=True)
def _reanalysis_off(settings):
    """Saving data re-runs the plans that read it after commit (analysis.triggers); with
    no broker that is the whole default plan in-process per transaction. Off in tests,
    except from where a test asks for the `reanalysis` fixture on."""
    settings.EXOTRACK = {**settings.EXOTRACK, "REANALYSIS_ENABLED": False}


@pytest.fixture
def reanalysis(settings):
    """Data-change re-analysis on from here (in-process, unless the test sets up a broker)."""
    settings.EXOTRACK = {**settings.EXOTRACK, "REANALYSIS_ENABLED": True}
    return settings
