"""The analysis report: one page per run, a self-contained download, each table as CSV
and each figure as SVG, the plans with their runs, and re-runs.

Thin: reads come from analysis.selectors, the document is assembled by analysis.report
(pure), the templates only lay it out."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from analysis.models import AnalysisPlan, AnalysisRun
from analysis.qc_report import qc_context
from analysis.report import (
    dictionary_of,
    diff_summary,
    find_figure,
    find_table,
    labelled_diff,
    options_in_words,
    reasons_in_words,
    report_sections,
)
from analysis.selectors import (
    admin_change_url,
    plan_runs_page,
    plans_with_latest_runs,
    run_edits,
    run_for_report,
    shown_run,
)
from analysis.tasks import current_run, request_run
from analysis.triggers import data_changed

VIEW_RUNS = "analysis.view_analysisrun"
# The downloads are data, never a page: nothing in them may run or load anything.
DOWNLOAD_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


@login_required
@permission_required(VIEW_RUNS, raise_exception=True)
def plan_list(request):
    return render(request, "analysis/plan_list.html", {"plans": plans_with_latest_runs()})


@login_required
@permission_required(VIEW_RUNS, raise_exception=True)
def plan_runs(request, name: str):
    """Every run of a plan, newest first, a page at a time."""
    plan = get_object_or_404(AnalysisPlan, name=name)
    page = plan_runs_page(plan=plan, page=request.GET.get("page"))
    return render(request, "analysis/plan_runs.html", {"plan": plan, "page": page})


def _run(pk: int) -> AnalysisRun:
    try:
        return run_for_report(pk)
    except AnalysisRun.DoesNotExist:
        raise Http404("No such run") from None


def _document(run: AnalysisRun) -> dict:
    """The analyses of the run shown (an unchanged run shows the run it matched)."""
    shown = shown_run(run)
    dictionary = dictionary_of(shown.dictionary)
    sections, other_figures = report_sections(
        results=shown.results,
        rows=shown.rows,
        figures=shown.figures,
        figure_notes=shown.figure_notes,
        dictionary=dictionary,
        options=shown.options,
    )
    return {
        "shown": shown,
        "dictionary": dictionary,
        "sections": sections,
        "other_figures": other_figures,
    }


def _report_context(run: AnalysisRun, *, user) -> dict:
    document = _document(run)
    shown = document["shown"]
    staff = bool(user.is_staff)
    return {
        "run": run,
        **document,
        "options": options_in_words(shown.options),
        "confidence": shown.options.get("confidence") if shown.options else None,
        "diff": labelled_diff(shown.diff, document["dictionary"]),
        "diff_summary": diff_summary(shown.diff),
        "reasons": reasons_in_words((run.parameters or {}).get("reasons")),
        # Admin pages are linked for those who can open them (staff); others read the names.
        "edits": [edit if staff else {**edit, "url": None} for edit in run_edits(run)],
        "dataset_url": admin_change_url(run.dataset) if staff else None,
        "plan_url": admin_change_url(run.plan) if staff else None,
        "show_admin_links": staff,
        # Empty for runs made before the QC gate: the page then shows no QC at all.
        **qc_context(shown.qc or {}, shown.figures or {}, shown.rows or []),
        # Set when the data this run read have changed since: what the next run is doing.
        "data_changed": data_changed(run),
    }


@login_required
@permission_required(VIEW_RUNS, raise_exception=True)
def run_report(request, pk: int):
    return render(request, "analysis/report.html", _report_context(_run(pk), user=request.user))


@login_required
@permission_required(VIEW_RUNS, raise_exception=True)
def run_report_download(request, pk: int):
    """The same report as one HTML file with its styles and SVG figures inline."""
    context = {**_report_context(_run(pk), user=request.user), "standalone": True}
    response = render(request, "analysis/report.html", context)
    response["Content-Disposition"] = f'attachment; filename="exotrack-run-{pk}.html"'
    return response


@login_required
@permission_required(VIEW_RUNS, raise_exception=True)
def run_miqe(request, pk: int):
    """The run's MIQE 2.0 checklist (page, HTML file or CSV) beside its report."""
    from biobank.selectors.miqe import run_miqe as checklist
    from biobank.views.plates import miqe_response

    run = _run(pk)
    return miqe_response(
        request,
        checklist(run.same_as or run),  # an unchanged run: the run whose results stand
        subject=f"{run.plan.title}, run #{run.pk}",
        csv_url=reverse("analysis:run-miqe-csv", args=[run.pk]),
        back_url=reverse("analysis:run", args=[run.pk]),
        filename=f"exotrack-run-{run.pk}-miqe",
    )


def _download(body: str, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Content-Security-Policy"] = DOWNLOAD_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@permission_required(VIEW_RUNS, raise_exception=True)
def run_figure_svg(request, pk: int, slug: str):
    """One figure of the report as an SVG file (404 for a name the run has not drawn)."""
    document = _document(_run(pk))
    figure = find_figure(document["sections"], document["other_figures"], slug)
    if figure is None or not figure["svg"]:
        raise Http404("No such figure in this run")
    return _download(
        figure["svg"], content_type="image/svg+xml", filename=f"exotrack-run-{pk}-{slug}.svg"
    )


@login_required
@permission_required(VIEW_RUNS, raise_exception=True)
def run_table_csv(request, pk: int, slug: str):
    """One table of the report as CSV: raw numbers, text cells neutralised."""
    table = find_table(_document(_run(pk))["sections"], slug)
    if table is None:
        raise Http404("No such table in this run")
    return _download(
        table.csv(),
        content_type="text/csv; charset=utf-8",
        filename=f"exotrack-run-{pk}-{slug}.csv",
    )


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
