"""Shared set-up for the benchmarks: Django on the database DATABASE_URL names, migrated,
with the synthetic demo cohort of the size asked for.

Without DATABASE_URL each bench gets a scratch SQLite file of its own, named for the
bench script (/tmp/exotrack-bench-plate_import.sqlite3, ...): never the demo database,
and never another bench's, so one bench's rows (a plate bench's wells) or re-seeding
(a 75-patient bench over a 10,000-patient cohort) cannot change another's figures."""

from __future__ import annotations

import io
import os
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH = Path(sys.argv[0]).stem or "bench"
os.environ.setdefault("DATABASE_URL", f"sqlite:////tmp/exotrack-bench-{BENCH}.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402


def database_label() -> str:
    from django.db import connection

    return f"{connection.vendor} ({connection.settings_dict['NAME']})"


def configuration() -> str:
    """What a figure depends on besides the code: the database, where tasks run, and
    whether saves trigger re-analysis."""
    from django.conf import settings

    tasks = (
        "tasks eager (in-process)"
        if settings.CELERY_TASK_ALWAYS_EAGER
        else f"tasks on the broker {settings.CELERY_BROKER_URL.split('@')[-1]}"
    )
    options = settings.EXOTRACK
    reanalysis = "off"
    if options["REANALYSIS_ENABLED"]:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            where = "queued on the broker"
        elif options["REANALYSIS_IN_BACKGROUND"]:
            where = "in a background thread"
        else:
            where = "in the saving request"
        reanalysis = f"on ({where})"
    return f"{BENCH}: database {database_label()}; {tasks}; re-analysis on save {reanalysis}"


def prepare(patients: int | None = None) -> None:
    """Print the configuration, migrate, and make sure the demo cohort has `patients`
    patients."""
    print(configuration(), flush=True)
    call_command("migrate", verbosity=0)
    if patients is None:
        return
    from biobank.models import Patient

    existing = Patient.objects.filter(study_id__startswith="DEMO-").count()
    if existing != patients:
        started = time.perf_counter()
        call_command("seed_demo", patients=patients, reset=existing > 0, stdout=io.StringIO())
        print(f"seeded {patients} patients in {time.perf_counter() - started:.1f} s")


def move_cohort_version() -> None:
    """What the database triggers do on any write to the cohort's tables
    (biobank/migrations/0009): the next cohort read misses its snapshot and rebuilds."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO biobank_cohortversion (id, version) VALUES (1, 1) "
            "ON CONFLICT (id) DO UPDATE SET version = biobank_cohortversion.version + 1"
        )


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(label: str, results: dict):
    started = time.perf_counter()
    yield
    results[label] = time.perf_counter() - started
