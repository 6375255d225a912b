"""The analysis report: one page per run, a self-contained download, and re-runs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from analysis.models import AnalysisPlan, AnalysisRun
from analysis.qc_report import analysis_figure, qc_context
from analysis.selectors import plans_with_latest_runs, run_for_report, shown_run
from analysis.tasks import current_run
from analysis.triggers import data_changed, request_run


@login_required
@permission_required("analysis.view_analysisrun", raise_exception=True)
def plan_list(request):
    return render(request, "analysis/plan_list.html", {"plans": plans_with_latest_runs()})


def _report_context(pk: int) -> dict:
    try:
        run = run_for_report(pk)
    except AnalysisRun.DoesNotExist:
        raise Http404("No such run") from None
    shown = shown_run(run)
    figures = shown.figures or {}
    sections = [
        {**entry, "figure": analysis_figure(figures, entry["name"])} for entry in shown.results
    ]
    return {
        "run": run,
        "shown": shown,
        "sections": sections,
        "diff": shown.diff or {},
        # Empty for runs made before the QC gate: the page then shows no QC at all.
        **qc_context(shown.qc or {}, figures, shown.rows or []),
        # Set when the data this run read have changed since: what the next run is doing.
        "data_changed": data_changed(run),
    }


@login_required
@permission_required("analysis.view_analysisrun", raise_exception=True)
def run_report(request, pk: int):
    return render(request, "analysis/report.html", _report_context(pk))


@login_required
@permission_required("analysis.view_analysisrun", raise_exception=True)
def run_report_download(request, pk: int):
    """The same report as one HTML file with its styles and SVG figures inline."""
    response = render(request, "analysis/report.html", {**_report_context(pk), "standalone": True})
    response["Content-Disposition"] = f'attachment; filename="exotrack-run-{pk}.html"'
    return response


@require_POST
@login_required
@permission_required("analysis.add_analysisrun", raise_exception=True)
def plan_rerun(request, name: str):
    """Queue a run through the task: a worker computes it when a broker is configured,
    this process's background runner when none is (the redirect never waits for it)."""
    plan = get_object_or_404(AnalysisPlan, name=name)
    run = request_run(plan=plan, trigger=AnalysisRun.Trigger.MANUAL, user=request.user)
    run = current_run(run.pk) or run  # or the run that replaced it after a transient fault
    messages.info(request, rerun_message(run))
    return redirect("analysis:run", pk=run.pk)


def rerun_message(run: AnalysisRun) -> str:
    if run.status in (AnalysisRun.Status.QUEUED, AnalysisRun.Status.RUNNING):
        return (
            f"Run #{run.pk} is {run.get_status_display().lower()}: it is computed in the "
            "background; reload this page to see its results."
        )
    return f"Run #{run.pk}: {run.get_status_display()}"
