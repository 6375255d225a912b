"""Shared fixtures. The database is whatever DATABASE_URL names (SQLite by default,
PostgreSQL in the second CI pass); tests that need PostgreSQL mark themselves."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
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


# The data migrations' RunPython steps: groups and permissions, the default plan, the
# nightly schedule. Transactional tests (browser, Celery, races) end with a flush that
# empties every table, and xdist may run them before ordinary tests of the same worker.
DATA_MIGRATIONS = [
    ("biobank.roles", "sync_role_groups"),
    ("analysis.migrations.0002_default_plan_and_roles", "install_default_plan"),
    ("analysis.migrations.0003_reanalysis_beat_schedule", "create_schedule"),
]


def restore_migration_data() -> None:
    for module, function in DATA_MIGRATIONS:
        getattr(importlib.import_module(module), function)(django_apps, None)


@pytest.fixture(autouse=True)
def _migration_data(request):
    """Put the data migrations' rows back when a flush removed them (two cheap queries)."""
    marker = request.node.get_closest_marker("django_db")
    transactional = marker is not None and marker.kwargs.get("transaction", False)
    if transactional or "transactional_db" in request.fixturenames or "live_server" in request.fixturenames:
        request.getfixturevalue("transactional_db")
    elif marker is not None or "db" in request.fixturenames:
        request.getfixturevalue("db")
    else:
        return
    from django.contrib.auth.models import Group

    from analysis.models import AnalysisPlan

    if not Group.objects.filter(name=CURATOR).exists() or not AnalysisPlan.objects.exists():
        restore_migration_data()


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
