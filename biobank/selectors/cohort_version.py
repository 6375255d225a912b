"""The cohort's version: the counter the database triggers move on every write to a
table the cohort is built from (biobank.models.cohort_cache, triggers in
biobank/migrations/0009_cohort_version_triggers)."""

from __future__ import annotations

from django.db import connection

from biobank.models import CohortVersion


def cohort_version() -> int:
    """The current version; 0 before the first write. Read it before reading the data
    a cache is built from, so the data are never older than the key they are kept under.

    On PostgreSQL the triggers bump at commit; `exotrack_cohort_version()` first fires
    this transaction's pending bump, so a transaction that wrote to the cohort sees a
    version its own writes moved (one query on both databases)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT exotrack_cohort_version()")
            return cursor.fetchone()[0]
    return CohortVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0
