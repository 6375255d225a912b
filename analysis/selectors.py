"""Reads of plans and runs for the report pages, the home page, the admin and the API."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Prefetch, Subquery
from django.urls import NoReverseMatch, reverse

from analysis.models import AnalysisPlan, AnalysisRun

RECENT_RUNS = 10
RUNS_PER_PAGE = 25
# Edits listed as the cause of a data-change run: enough to name them, not a history.
CAUSE_EDITS = 10

_LIST_FIELDS = (
    "id",
    "plan_id",
    "status",
    "trigger",
    "created_at",
    "finished_at",
    "fingerprint",
    "same_as_id",
    "error",
)


def _listed_runs():
    return AnalysisRun.objects.only(*_LIST_FIELDS).order_by("-created_at", "-id")


def plans_with_latest_runs():
    """Every plan with its RECENT_RUNS newest runs (one query for plans, one for runs)
    and how many it has in all (for the link to the whole list)."""
    return AnalysisPlan.objects.prefetch_related(
        Prefetch("runs", queryset=_listed_runs()[:RECENT_RUNS], to_attr="recent_runs")
    )


def plan_runs_page(*, plan: AnalysisPlan, page: str | int | None) -> Page:
    """One page of a plan's runs, newest first (a page number out of range gives the
    last page, a non-number the first)."""
    paginator = Paginator(_listed_runs().filter(plan=plan), RUNS_PER_PAGE)
    return paginator.get_page(page)


def latest_runs_of_active_plans() -> list[AnalysisRun]:
    """The newest finished run (succeeded, unchanged or failed) of each active plan, with
    what it changed, for the home page (two queries whatever the number of plans)."""
    Status = AnalysisRun.Status
    finished = [Status.SUCCEEDED, Status.UNCHANGED, Status.FAILED]
    newest = (
        AnalysisRun.objects.filter(plan=OuterRef("pk"), status__in=finished)
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    ids = (
        AnalysisPlan.objects.filter(is_active=True)
        .annotate(latest=Subquery(newest))
        .exclude(latest=None)
        .values_list("latest", flat=True)
    )
    return list(
        AnalysisRun.objects.filter(pk__in=list(ids))
        .select_related("plan", "dataset", "requested_by")
        .defer("results", "rows", "figures", "figure_notes", "qc", "spec")
        .order_by("plan__name")
    )


def run_for_report(pk: int) -> AnalysisRun:
    return AnalysisRun.objects.select_related(
        "plan", "dataset", "previous", "same_as", "requested_by"
    ).get(pk=pk)


def shown_run(run: AnalysisRun) -> AnalysisRun:
    """An unchanged run shows the results of the run it matched."""
    return run.same_as if run.same_as_id else run


def admin_change_url(obj) -> str | None:
    """The admin change page of an object, or None when its model has none."""
    if obj is None or not admin.site.is_registered(type(obj)):
        return None
    meta = obj._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def run_edits(run: AnalysisRun, *, limit: int = CAUSE_EDITS) -> list[dict]:
    """The recorded edits a data-change run answered: changes in the history of the
    models the analyses read (analysis.triggers), after the previous run of the plan
    started and before this one did; newest first, each with who, when and the admin
    page of the object when it still exists."""
    from analysis.triggers import history_models

    if run.trigger != AnalysisRun.Trigger.DATA_CHANGE:
        return []
    until = run.started_at or run.created_at
    previous = run.previous or (
        AnalysisRun.objects.filter(plan_id=run.plan_id, created_at__lt=run.created_at)
        .exclude(status=AnalysisRun.Status.FAILED)
        .order_by("-created_at", "-id")
        .first()
    )
    since = (previous.started_at or previous.created_at) if previous else until - timedelta(days=1)
    records = []
    for history in history_models():
        records += list(
            history.objects.filter(history_date__gt=since, history_date__lte=until)
            .select_related("history_user")
            .order_by("-history_date")[:limit]
        )
    records.sort(key=lambda record: record.history_date, reverse=True)
    edits = []
    for record in records[:limit]:
        model = record.instance_type
        current = None
        if record.history_type != "-":
            current = model.objects.filter(pk=getattr(record, model._meta.pk.attname)).first()
        edits.append(
            {
                "what": model._meta.verbose_name,
                "object": str(current if current is not None else record.instance),
                "action": {"+": "added", "~": "changed", "-": "deleted"}.get(
                    record.history_type, "changed"
                ),
                "user": record.history_user,
                "when": record.history_date,
                "url": admin_change_url(current),
            }
        )
    return edits
