"""Plans, imported cohorts and runs in the curators' admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from analysis.models import AnalysisPlan, AnalysisRun, CohortDataset


@admin.register(AnalysisPlan)
class AnalysisPlanAdmin(SimpleHistoryAdmin):
    list_display = ("name", "title", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "title")


@admin.register(CohortDataset)
class CohortDatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "rows", "imported_by", "imported_at", "short_fingerprint")
    search_fields = ("name", "fingerprint")
    readonly_fields = (
        "fingerprint",
        "rows",
        "columns",
        "extra_columns",
        "imported_by",
        "imported_at",
    )
    exclude = ("csv",)

    @admin.display(description="Fingerprint")
    def short_fingerprint(self, dataset):
        return dataset.fingerprint[:12]


@admin.register(AnalysisRun)
class AnalysisRunAdmin(admin.ModelAdmin):
    """Runs are made by the services (tasks, command, report page); here they are read."""

    list_display = (
        "id",
        "plan",
        "status",
        "trigger",
        "created_at",
        "duration",
        "short_fingerprint",
        "report",
    )
    list_filter = ("status", "trigger", "plan")
    search_fields = ("fingerprint", "plan__name")
    list_select_related = ("plan",)
    date_hierarchy = "created_at"
    exclude = ("results", "rows", "figures")
    readonly_fields = [
        "plan",
        "dataset",
        "status",
        "trigger",
        "requested_by",
        "fingerprint",
        "spec",
        "parameters",
        "versions",
        "created_at",
        "started_at",
        "finished_at",
        "n_patients",
        "diff",
        "previous",
        "same_as",
        "error",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Duration (s)")
    def duration(self, run):
        seconds = run.duration_seconds
        return "–" if seconds is None else f"{seconds:.2f}"

    @admin.display(description="Fingerprint")
    def short_fingerprint(self, run):
        return run.fingerprint[:12]

    @admin.display(description="Report")
    def report(self, run):
        return format_html('<a href="{}">report</a>', reverse("analysis:run", args=[run.pk]))
