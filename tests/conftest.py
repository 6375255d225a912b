"""Shared fixtures. The database is whatever DATABASE_URL names (SQLite by default,
PostgreSQL in the second CI pass); tests that need PostgreSQL mark themselves."""

from __future__ import annotations

import importlib
import io
import shutil
import tempfile
from pathlib import Path

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
    if (
        transactional
        or "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
    ):
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
def demo(db):
    """The synthetic demo cohort (75 patients, the default seed)."""
    from django.core.management import call_command

    call_command("seed_demo", stdout=io.StringIO())


@pytest.fixture
def plan(db):
    """The installed plan that reproduces the paper."""
    from analysis.models import AnalysisPlan

    return AnalysisPlan.objects.get(name="paper-default")


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
    except from where a test asks for the `reanalysis` fixture on. And when on, computed
    in the committing thread, before the response (deterministic), except where a test
    asks for the `background_reanalysis` fixture."""
    settings.EXOTRACK = {
        **settings.EXOTRACK,
        "REANALYSIS_ENABLED": False,
        "REANALYSIS_IN_BACKGROUND": False,
    }


@pytest.fixture
def reanalysis(settings):
    """Data-change re-analysis on from here (in-process, unless the test sets up a broker)."""
    settings.EXOTRACK = {**settings.EXOTRACK, "REANALYSIS_ENABLED": True}
    return settings


@pytest.fixture
def background_reanalysis(transactional_db, reanalysis):
    """Re-analysis on, computed by the background runner as in `make demo`. The runner's
    thread has its own database connection, so the test commits (transactional_db);
    the runner is drained before the test's data are flushed."""
    from analysis import tasks

    reanalysis.EXOTRACK = {**reanalysis.EXOTRACK, "REANALYSIS_IN_BACKGROUND": True}
    yield reanalysis
    assert tasks.wait_for_background_runs(timeout=120), "the background runner did not drain"


@pytest.fixture(scope="session")
def _sqlite_test_database_file():
    """On SQLite, the test database is a file, not Django's shared-cache in-memory one:
    the background runner's thread and the live server then meet the same WAL file
    and busy timeout as `make demo` does (shared-cache memory databases fail at once
    with "database table is locked" where a file's writer waits). In /dev/shm when
    there is one, so that it costs no disk writes."""
    from django.conf import settings

    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="exotrack-test-", dir=shm if shm.is_dir() else None))
    for alias, db in settings.DATABASES.items():
        if db["ENGINE"].endswith("sqlite3") and not db.get("TEST", {}).get("NAME"):
            db.setdefault("TEST", {})["NAME"] = str(folder / f"{alias}.sqlite3")
    yield
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    _sqlite_test_database_file, django_db_modify_db_settings_parallel_suffix
):
    """pytest-django's hook: our file name first, then its per-xdist-worker suffix."""
