"""Analysis plans, imported cohorts and runs.

A plan is data (JSON, see analysis/plans.py); a run records everything needed
to trust and trace its numbers: the input fingerprint, the parameters, the
library versions, when, the results, the figures, any error, and what changed
against the previous successful run of the same plan.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class AnalysisPlan(models.Model):
    name = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    spec = models.JSONField(help_text="The analyses as data: see analysis/plans.py")
    is_active = models.BooleanField(default=True, help_text="Re-run on data changes and nightly")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class CohortDataset(models.Model):
    """A cohort table brought from elsewhere (import_cohort): plans can run on it
    instead of the live database."""

    name = models.SlugField(max_length=80, unique=True)
    csv = models.TextField(help_text="The table as imported, in the export's CSV format")
    fingerprint = models.CharField(max_length=64)
    rows = models.PositiveIntegerField()
    columns = models.JSONField(default=list)
    extra_columns = models.JSONField(default=list, help_text="Columns ExoTrack does not know")
    dictionary = models.JSONField(
        default=dict, blank=True, help_text="What each column means (analysis.dictionary)"
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self):
        return f"{self.name} ({self.rows} patients)"


class AnalysisRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        UNCHANGED = "unchanged", "Unchanged (same data as the last run)"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "By hand"
        DATA_CHANGE = "data_change", "Data changed"
        NIGHTLY = "nightly", "Nightly"
        COMMAND = "command", "Command line"
        DEMO = "demo", "Demo set-up"

    plan = models.ForeignKey(AnalysisPlan, on_delete=models.PROTECT, related_name="runs")
    dataset = models.ForeignKey(
        CohortDataset,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="runs",
        help_text="Empty: the live database",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    spec = models.JSONField(default=dict, help_text="The plan as it was run")
    parameters = models.JSONField(default=dict, blank=True)
    versions = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    n_patients = models.PositiveIntegerField(null=True, blank=True)
    results = models.JSONField(default=list, blank=True)
    rows = models.JSONField(
        default=list, blank=True, help_text="Flat results: analysis, variable, n, estimate, CI, P"
    )
    figures = models.JSONField(default=dict, blank=True, help_text="name -> SVG")
    figure_notes = models.JSONField(
        default=dict,
        blank=True,
        help_text="name -> {alt: text for screen readers, error: why it could not be drawn}",
    )
    qc = models.JSONField(
        default=dict,
        blank=True,
        help_text="QC policy, patient flow, exclusions and sensitivity analyses of this run",
    )
    diff = models.JSONField(default=dict, blank=True)
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="The statistical options the run resolved (analysis.options)",
    )
    dictionary = models.JSONField(
        default=dict,
        blank=True,
        help_text="The data dictionary of the cohort it read (analysis.dictionary)",
    )
    previous = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    same_as = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="For an unchanged run: the run whose results stand",
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["plan", "status", "-finished_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(error=""), name="failed_run_has_error"
            ),
        ]

    def __str__(self):
        return f"{self.plan.name} #{self.pk} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class PendingReanalysis(models.Model):
    """A plan whose data changed and that no run has read since (broker mode).

    Written after every committing transaction that changed what the plan reads (in
    the same on_commit flush that wakes the debounced task), so that "this plan must
    run again" survives a Redis outage, a lost message or a killed worker: the task
    that runs the plan consumes the record it read, and the stale-run sweep and every
    worker (re)connection enqueue the plans whose record is still here. `changes`
    counts the commits recorded: a run deletes the record only if no commit came
    after it read it (else it subtracts what it consumed), so a later edit is never
    lost. See analysis/pending.py."""

    plan = models.OneToOneField(
        AnalysisPlan, on_delete=models.CASCADE, related_name="pending_reanalysis"
    )
    reasons = models.JSONField(default=dict, blank=True, help_text="What changed, counted")
    changes = models.PositiveIntegerField(default=0, help_text="Commits recorded")
    first_changed_at = models.DateTimeField()
    last_changed_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "pending re-analysis"
        verbose_name_plural = "pending re-analyses"

    def __str__(self):
        return f"{self.plan} ({self.changes} changes since {self.first_changed_at:%Y-%m-%d %H:%M})"
