"""The cohort cache: a counter every write to the cohort's tables moves, and the
cohort table built at a given value of it (issue 16).

Building the analysis-ready cohort from the wells takes seconds at 10,000 patients;
a re-run with unchanged data, the report's "data changed?" check and the export read
the same table again and again. `CohortVersion` is moved by database triggers on every
table the cohort is built from (biobank/migrations: INSERT, UPDATE and DELETE, whatever
wrote them: services, admin, API, bulk SQL, the seed loader, a raw UPDATE), so it cannot
miss a write path; `CohortSnapshot` keeps the table, its QC evidence and its export built
at one version (and settings and code: see biobank.selectors.cohort_cache), and is used
only while the version is still the same. The version is read before the data, so a
snapshot never holds data older than its key.
"""

from __future__ import annotations

from django.db import models


class CohortVersion(models.Model):
    """One row (id 1): moved by the database triggers, read by the cohort cache."""

    version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "cohort version"

    def __str__(self):
        return f"cohort version {self.version}"


class CohortSnapshot(models.Model):
    """The cohort as built at one cache key (version, settings and code)."""

    key = models.CharField(max_length=200, unique=True)
    version = models.BigIntegerField(help_text="CohortVersion.version it was built at")
    built_at = models.DateTimeField(auto_now_add=True)
    build_seconds = models.FloatField(default=0)
    rows = models.PositiveIntegerField(default=0)
    fingerprint = models.CharField(
        max_length=64, help_text="analysis.cohort.fingerprint of the table"
    )
    table = models.BinaryField(help_text="The cohort DataFrame, serialised")
    evidence = models.BinaryField(help_text="The QC evidence behind its QC columns, serialised")
    fingerprints = models.JSONField(
        default=dict, blank=True, help_text="Fingerprints of column subsets already computed"
    )
    parts = models.BinaryField(
        null=True,
        blank=True,
        help_text="The QC evidence's row-level tables, serialised: what an incremental "
        "rebuild splices (biobank.selectors.cohort_incremental)",
    )

    class Meta:
        ordering = ["-version", "-id"]

    def __str__(self):
        return f"cohort at version {self.version} ({self.rows} patients)"


class CohortChange(models.Model):
    """One row written to a table the cohort is built from, logged by the same database
    triggers that move CohortVersion (biobank/migrations/0015), in the same transaction,
    tagged with the version that transaction moved the counter to. The next cohort read
    rebuilds only the patients these rows can change (biobank.selectors.
    cohort_incremental). `old` / `new` are the row before / after (None for an INSERT /
    DELETE; both None for a TRUNCATE). Rows older than every kept snapshot are pruned."""

    version = models.BigIntegerField(db_index=True)
    table = models.CharField(max_length=64)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)

    def __str__(self):
        return f"{self.table} change at version {self.version}"


class CohortSnapshotChunk(models.Model):
    """A run of the export's CSV body (patients in study_id order), written when the
    snapshot is built, so an export streams stored text."""

    snapshot = models.ForeignKey(CohortSnapshot, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    rows = models.PositiveIntegerField()
    csv = models.TextField()

    class Meta:
        ordering = ["snapshot", "index"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "index"], name="one_chunk_per_index")
        ]

    def __str__(self):
        return f"chunk {self.index} of {self.snapshot_id} ({self.rows} patients)"
