"""The cohort's version: the counter the database triggers move on every write to a
table the cohort is built from (biobank.models.cohort_cache)."""

from __future__ import annotations

from biobank.models import CohortVersion


def cohort_version() -> int:
    """The current version; 0 before the first write. Read it before reading the data
    a cache is built from, so the data are never older than the key they are kept under."""
    return (
        CohortVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0
    )
