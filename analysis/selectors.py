"""Reads of plans and runs for the report pages, the admin and the API."""

from __future__ import annotations

from django.db.models import Prefetch

from analysis.models import AnalysisPlan, AnalysisRun


def plans_with_latest_runs():
    """Every plan with its runs newest first (one query for plans, one for runs)."""
    recent = AnalysisRun.objects.only(
        "id",
        "plan_id",
        "status",
        "trigger",
        "created_at",
        "finished_at",
        "fingerprint",
        "same_as_id",
        "error",
    ).order_by("-created_at", "-id")
    return AnalysisPlan.objects.prefetch_related(
        Prefetch("runs", queryset=recent, to_attr="recent_runs")
    )


def run_for_report(pk: int) -> AnalysisRun:
    return AnalysisRun.objects.select_related(
        "plan", "dataset", "previous", "same_as", "requested_by"
    ).get(pk=pk)


def shown_run(run: AnalysisRun) -> AnalysisRun:
    """An unchanged run shows the results of the run it matched."""
    return run.same_as if run.same_as_id else run
