"""Shared set-up for the benchmarks: Django on the database DATABASE_URL names
(default: a scratch SQLite file under /tmp, never the demo database), migrated,
with the synthetic demo cohort of the size asked for."""

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
os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/exotrack-bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402


def database_label() -> str:
    from django.db import connection

    return f"{connection.vendor} ({connection.settings_dict['NAME']})"


def prepare(patients: int | None = None) -> None:
    """Migrate, and make sure the demo cohort has `patients` patients."""
    call_command("migrate", verbosity=0)
    if patients is None:
        return
    from biobank.models import Patient

    existing = Patient.objects.filter(study_id__startswith="DEMO-").count()
    if existing != patients:
        started = time.perf_counter()
        call_command("seed_demo", patients=patients, reset=existing > 0, stdout=io.StringIO())
        print(f"seeded {patients} patients in {time.perf_counter() - started:.1f} s")


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(label: str, results: dict):
    started = time.perf_counter()
    yield
    results[label] = time.perf_counter() - started
