"""Plans, imported cohorts and runs in the curators' admin (writes: curators only,
biobank/admin_base.py)."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from analysis.models import AnalysisPlan, AnalysisRun, CohortDataset
from analysis.tasks import current_run, request_run
from biobank.admin_base import CuratorWritesMixin


@admin.register(AnalysisPlan)
class AnalysisPlanAdmin(CuratorWritesMixin, SimpleHistoryAdmin):
    list_display = ("name", "title", "is_active", "updated_at", "latest_run")
    list_filter = ("is_active",)
    search_fields = ("name", "title")
    actions = ["rerun_now"]

    def has_rerun_permission(self, request):
        return request.user.has_perm("analysis.add_analysisrun")

    @admin.action(description="Re-run now (on the live data)", permissions=["rerun"])
    def rerun_now(self, request, queryset):
        """Queue a run of each selected plan through the task: a worker computes it, or
        this process does when no broker is configured."""
        for plan in queryset:
            run = request_run(plan=plan, trigger=AnalysisRun.Trigger.MANUAL, user=request.user)
            run = current_run(run.pk) or run
            self.message_user(
                request,
                format_html(
                    'Plan {}: <a href="{}">run #{}</a> {}.',
                    plan.name,
                    reverse("analysis:run", args=[run.pk]),
                    run.pk,
                    run.get_status_display().lower(),
                ),
                messages.SUCCESS,
            )

    @admin.display(description="Latest run")
    def latest_run(self, plan):
        run = plan.runs.filter(dataset__isnull=True).order_by("-created_at", "-id").first()
        if run is None:
            return "–"
        return format_html(
            '<a href="{}">#{}</a> {}',
            reverse("analysis:run", args=[run.pk]),
            run.pk,
            run.get_status_display().lower(),
        )


@admin.register(CohortDataset)
class CohortDatasetAdmin(CuratorWritesMixin, admin.ModelAdmin):
    list_display = ("name", "rows", "imported_by", "imported_at", "short_fingerprint")
    search_fields = ("name", "fingerprint")
    readonly_fields = (
        "fingerprint",
        "rows",
        "columns",
        "extra_columns",
        "dictionary",
        "imported_by",
        "imported_at",
    )
    exclude = ("csv",)

    @admin.display(description="Fingerprint")
    def short_fingerprint(self, dataset):
        return dataset.fingerprint[:12]


@admin.register(AnalysisRun)
class AnalysisRunAdmin(CuratorWritesMixin, admin.ModelAdmin):
    """Runs are made by the services (tasks, command, report page); here they are read."""

    list_display = (
        "id",
        "plan",
        "status",
        "trigger",
        "why",
        "created_at",
        "started_at",
        "duration",
        "short_fingerprint",
        "report",
    )
    list_filter = ("status", "trigger", "plan", ("dataset", admin.EmptyFieldListFilter))
    search_fields = ("fingerprint", "plan__name")
    list_select_related = ("plan", "requested_by")
    date_hierarchy = "created_at"
    exclude = ("results", "rows", "figures", "figure_notes", "qc", "dictionary")
    readonly_fields = [
        "plan",
        "dataset",
        "status",
        "trigger",
        "requested_by",
        "fingerprint",
        "spec",
        "options",
        "parameters",
        "versions",
        "created_at",
        "started_at",
        "finished_at",
        "n_patients",
        "diff",
        "qc_summary",
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

    @admin.display(description="Why")
    def why(self, run):
        """Who asked, or which changes (counted) the data-change run follows."""
        parameters = run.parameters or {}
        if run.requested_by_id:
            return f"by {run.requested_by}"
        reasons = parameters.get("reasons") or {}
        text = ", ".join(f"{reason} ×{count}" for reason, count in list(reasons.items())[:3])
        if len(reasons) > 3:
            text += ", …"
        if parameters.get("replaces"):
            text = f"replaces #{parameters['replaces']}" + (f"; {text}" if text else "")
        return text or "–"

    @admin.display(description="QC")
    def qc_summary(self, run):
        """The QC gate in one line (policy, flow, what was left out) over the stored
        dict, so a curator sees why n changed without opening the report."""
        qc = run.qc or {}
        if not qc:
            return "–"
        if not qc.get("available", True):
            return "No QC columns in this dataset: no QC gate applied."
        flow = " → ".join(f"{step.get('step')} {step.get('n')}" for step in qc.get("flow") or [])
        summary = format_html(
            "{}; {} patients and {} measurements left out; {} sensitivity analyses.",
            qc.get("policy_label") or qc.get("policy") or "–",
            len(qc.get("excluded_patients") or []),
            len(qc.get("excluded_measurements") or []),
            len(qc.get("sensitivity") or []),
        )
        return format_html(
            "{}<br>{}<details><summary>stored QC</summary><pre>{}</pre></details>",
            summary,
            flow,
            json.dumps(qc, indent=2, ensure_ascii=False),
        )

    @admin.display(description="Report")
    def report(self, run):
        return format_html('<a href="{}">report</a>', reverse("analysis:run", args=[run.pk]))
